"""llserver's MultiDict: the design document's GET and POST parameter recipes.

``MultiDict(parse_qsl(...))`` must work for the str pairs of a query string and
for the bytes pairs ``parse_qsl`` returns for a form body (checklist items 5
and 6), while staying a real ``multidict.MultiDict``.
"""

from __future__ import annotations

import copy
import os
import pickle
import subprocess
import sys
import warnings
from pathlib import Path
from urllib.parse import parse_qsl, urlparse

import multidict
import pytest

from llserver import _multidict
from llserver._multidict import (
    CIMultiDict,
    CIMultiDictProxy,
    MultiDict,
    MultiDictProxy,
    istr,
    upstr,
)

FORM_BODY = b"a=1&b=2&a=3"


def test_get_params_recipe_from_the_design_doc():
    path = "/p?x=1&x=2&y=3"
    get_params = MultiDict(parse_qsl(urlparse(path).query))
    assert get_params.getall("x") == ["1", "2"]
    assert get_params["y"] == "3"


def test_post_params_recipe_with_bytes_body():
    post_params = MultiDict(parse_qsl(FORM_BODY))
    assert post_params.getall(b"a") == [b"1", b"3"]
    assert post_params.getall("a") == [b"1", b"3"]
    assert post_params.getone(b"b") == b"2"
    assert post_params[b"a"] == b"1"
    assert post_params.get(b"b") == b"2"
    assert post_params.get(b"missing") is None
    assert post_params.get(b"missing", "dflt") == "dflt"
    assert post_params.getall(b"missing", []) == []
    assert post_params.getone(b"missing", 0) == 0
    assert b"a" in post_params
    assert "a" in post_params
    assert b"zz" not in post_params
    assert 42 not in post_params


def test_post_params_print_like_the_design_doc(capsys):
    post_params = MultiDict(parse_qsl(FORM_BODY))
    print("Passed in POST", post_params)
    assert capsys.readouterr().out == (
        "Passed in POST <MultiDict('a': b'1', 'b': b'2', 'a': b'3')>\n"
    )


def test_get_params_print_like_the_design_doc(capsys):
    print("Passed in GET", MultiDict(parse_qsl(urlparse("/p?x=1&x=2&y=3").query)))
    assert capsys.readouterr().out == "Passed in GET <MultiDict('x': '1', 'x': '2', 'y': '3')>\n"


def test_bytes_keys_are_stored_as_str_and_values_untouched():
    post_params = MultiDict(parse_qsl(FORM_BODY))
    assert list(post_params.items()) == [("a", b"1"), ("b", b"2"), ("a", b"3")]
    assert post_params == multidict.MultiDict([("a", b"1"), ("b", b"2"), ("a", b"3")])


def test_is_a_real_multidict():
    md = MultiDict(parse_qsl(FORM_BODY))
    assert isinstance(md, multidict.MultiDict)
    assert isinstance(md, multidict.MutableMultiMapping)
    assert isinstance(md, multidict.MultiMapping)
    assert issubclass(MultiDict, multidict.MultiDict)
    proxy = MultiDictProxy(md)
    assert proxy.getall("a") == [b"1", b"3"]


def test_design_doc_import_gives_this_class():
    import llserver

    assert llserver.MultiDict is MultiDict


def test_reexports_are_multidicts_own_classes():
    assert CIMultiDict is multidict.CIMultiDict
    assert MultiDictProxy is multidict.MultiDictProxy
    assert CIMultiDictProxy is multidict.CIMultiDictProxy
    assert istr is multidict.istr


def test_upstr_is_istr_without_a_deprecation_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from llserver._multidict import upstr as imported

    assert imported is upstr is istr


def test_non_ascii_bytes_keys_round_trip_through_surrogateescape():
    md = MultiDict([(b"caf\xc3\xa9", 1), (b"\xff", 2)])
    assert list(md.keys()) == ["café", "\udcff"]
    assert md.getone(b"caf\xc3\xa9") == 1
    assert md.getone("café") == 1
    assert md[b"\xff"] == 2
    assert "\udcff".encode("utf-8", "surrogateescape") == b"\xff"


def test_bytearray_keys_and_mapping_and_iterator_arguments():
    assert MultiDict([(bytearray(b"k"), 1)]).getall(b"k") == [1]
    assert MultiDict({b"a": 1, "b": 2}) == MultiDict([("a", 1), ("b", 2)])
    # An iterator failing on its second pair must not lose the first one.
    pairs = iter([("x", 1), (b"y", 2), ("z", 3)])
    assert list(MultiDict(pairs).items()) == [("x", 1), ("y", 2), ("z", 3)]
    generated = MultiDict(pair for pair in parse_qsl(FORM_BODY))
    assert generated.getall(b"a") == [b"1", b"3"]


def test_keyword_arguments_are_kept_alongside_bytes_pairs():
    md = MultiDict(parse_qsl(FORM_BODY), c="4")
    assert list(md.items()) == [("a", b"1"), ("b", b"2"), ("a", b"3"), ("c", "4")]


def test_str_input_never_takes_the_decoding_path(monkeypatch):
    def fail(arg):
        raise AssertionError("str-keyed input was rewritten in Python")

    monkeypatch.setattr(_multidict, "_decoded_pairs", fail)
    md = MultiDict(parse_qsl("x=1&x=2"))
    assert md.getall("x") == ["1", "2"]
    assert MultiDict(md) == md
    assert MultiDict(x="1") == MultiDict([("x", "1")])


@pytest.mark.parametrize("bad", [[(1, "v")], [("a",)], [("a", 1, 2)], [None], 5, [b"ab"]])
def test_invalid_input_raises_what_multidict_raises(bad):
    with pytest.raises(Exception) as base_error:
        multidict.MultiDict(bad)
    with pytest.raises(type(base_error.value)) as our_error:
        MultiDict(bad)
    assert str(our_error.value) == str(base_error.value)


def test_single_key_mutators_accept_bytes_keys():
    md = MultiDict()
    md.add(b"a", 1)
    md[b"b"] = 2
    assert md.setdefault(b"c", 3) == 3
    assert md.setdefault(b"c", 4) == 3
    md.add("a", 5)
    assert list(md.items()) == [("a", 1), ("b", 2), ("c", 3), ("a", 5)]
    assert md.popone(b"b") == 2
    assert md.pop(b"c") == 3
    assert md.pop(b"c", None) is None
    assert md.popone(b"c", "gone") == "gone"
    assert md.popall(b"zz", []) == []
    md.add(b"d", 6)
    del md[b"d"]
    assert md.popall(b"a") == [1, 5]
    assert len(md) == 0
    with pytest.raises(KeyError):
        md.getone(b"a")
    with pytest.raises(KeyError):
        del md[b"a"]


def test_bulk_mutators_accept_bytes_keys():
    md = MultiDict([("a", 0)])
    md.extend(parse_qsl(FORM_BODY))
    assert list(md.items()) == [("a", 0), ("a", b"1"), ("b", b"2"), ("a", b"3")]
    md.update([(b"a", "x"), (b"c", "y")], d="z")
    assert list(md.items()) == [("a", "x"), ("b", b"2"), ("c", "y"), ("d", "z")]
    md.update({b"b": "w"})
    assert md.getall(b"b") == ["w"]
    md.extend(md)
    assert md.getall("a") == ["x", "x"]
    md.extend(MultiDictProxy(md))
    assert md.getall("a") == ["x", "x", "x", "x"]
    md.update(md)
    assert md.getall("a") == ["x", "x", "x", "x"]
    if hasattr(multidict.MultiDict, "merge"):
        md.merge([(b"a", "ignored"), (b"e", "new")])
        assert md.getall(b"a") == ["x", "x", "x", "x"]
        assert md.getall(b"e") == ["new"]


def test_bulk_mutators_match_multidict_for_str_input():
    pairs = [("a", 2), ("a", 3), ("b", 1)]
    ours, theirs = MultiDict([("a", 1), ("c", 9)]), multidict.MultiDict([("a", 1), ("c", 9)])
    ours.update(pairs)
    theirs.update(pairs)
    assert list(ours.items()) == list(theirs.items())
    ours.extend(pairs, z=0)
    theirs.extend(pairs, z=0)
    assert list(ours.items()) == list(theirs.items())


@pytest.mark.parametrize("method", ["extend", "update"])
def test_bulk_mutators_are_all_or_nothing(method):
    md = MultiDict([("a", 1)])
    with pytest.raises(TypeError):
        getattr(md, method)([("q", 1), (b"r", 2), (3, 4)])
    with pytest.raises(ValueError):
        getattr(md, method)([("q", 1), (b"r", 2, 3)])
    assert list(md.items()) == [("a", 1)]


def test_copy_and_pickle_keep_the_class():
    md = MultiDict(parse_qsl(FORM_BODY))
    for clone in (md.copy(), copy.copy(md), pickle.loads(pickle.dumps(md))):
        assert type(clone) is MultiDict
        assert clone == md
        assert clone.getall(b"a") == [b"1", b"3"]


def test_subclass_adds_no_instance_dict():
    # The C base has no __dict__; the pure-Python one has it via its ABC base.
    assert hasattr(MultiDict(), "__dict__") == hasattr(multidict.MultiDict(), "__dict__")


@pytest.mark.skipif(
    multidict.MultiDict.__module__ == "multidict._multidict_py",
    reason="already running on multidict's pure-Python implementation",
)
def test_same_behaviour_on_the_pure_python_multidict_that_pypy_uses(tmp_path):
    """PyPy always gets multidict's pure-Python classes; run this file on them."""
    # The child must import the same llserver as this run (installed in CI,
    # in-tree in a development checkout), not the source tree from its cwd.
    pkg_parent = str(Path(_multidict.__file__).resolve().parent.parent)
    env = dict(
        os.environ,
        MULTIDICT_NO_EXTENSIONS="1",
        PYTHONPATH=os.pathsep.join(filter(None, [pkg_parent, os.environ.get("PYTHONPATH")])),
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__],
        cwd=str(tmp_path),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
