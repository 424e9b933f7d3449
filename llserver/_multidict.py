"""The multidict names aiohttp 1.1 re-exported, plus a ``MultiDict`` that takes bytes keys.

The design document's POST example calls ``MultiDict(parse_qsl(data))`` with
``data`` the ``bytes`` of a form body, which gives ``(b'a', b'1')`` pairs.
multidict's C implementation raises ``TypeError`` on bytes keys (already in
multidict 2.x under aiohttp 1.1; only its pure-Python fallback took them), so
the example never worked as written.  llserver makes it work, and lets code
look keys up as ``b'a'`` or ``'a'``.

:class:`MultiDict` here subclasses ``multidict.MultiDict`` (so ``isinstance``
checks against either class hold) and decodes bytes keys to ``str`` wherever a
key goes in or is looked up.  UTF-8 with ``surrogateescape`` is used because it
is lossless: every byte string decodes, and ``key.encode('utf-8',
'surrogateescape')`` gives the original bytes back.  (``parse_qsl`` only accepts
ASCII bytes anyway, for which any choice would agree.)  Values are stored as
given, so form values stay ``bytes`` exactly as in 1.1.

Speed: construction from ``str`` keys, the common case, goes straight to the
base class's constructor (C on CPython); only when that raises ``TypeError``
are the pairs rewritten.  Mutators that could have half-applied before failing
(``extend``, ``update``, ``merge``) instead build a temporary ``MultiDict`` from
their argument first, which is again one C-level pass.  Nothing here touches the
private internals of either multidict implementation, so PyPy, which always
runs multidict's pure-Python code, behaves the same.

Known difference from 1.1: keys come back as ``str`` when iterating, and a
``MultiDictProxy`` or ``keys()`` view does not decode bytes lookups.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Tuple

import multidict as _md
from multidict import CIMultiDict, CIMultiDictProxy, MultiDictProxy, istr

__all__ = ("CIMultiDict", "CIMultiDictProxy", "MultiDict", "MultiDictProxy", "istr", "upstr")

#: Old name of :class:`istr`.  multidict 7 still answers ``multidict.upstr`` but
#: warns; binding the alias here keeps ``from llserver import upstr`` silent.
upstr = istr

_Base = _md.MultiDict
if TYPE_CHECKING:
    _TypedBase = _md.MultiDict[Any]
else:
    _TypedBase = _Base

# Bound once: calling ``_base_getall(self, ...)`` skips the zero-argument
# ``super()`` lookup on every call of the wrappers below.
_base_init = _Base.__init__
_base_getall = _Base.getall
_base_getone = _Base.getone
_base_get = _Base.get
_base_getitem = _Base.__getitem__
_base_contains = _Base.__contains__
_base_delitem = _Base.__delitem__
_base_setitem = _Base.__setitem__
_base_add = _Base.add
_base_setdefault = _Base.setdefault
_base_pop = _Base.pop
_base_popone = _Base.popone
_base_popall = _Base.popall
_base_extend = _Base.extend
_base_update = _Base.update
_base_merge: Any = getattr(_Base, "merge", None)  # multidict >= 6.3

_BYTES_TYPES = (bytes, bytearray)


def _key(key: Any) -> Any:
    """Return ``key`` with bytes decoded; anything else is passed on untouched.

    Non-str, non-bytes keys reach the base class unchanged so that it raises its
    own error (or, for ``in``, answers False) exactly as multidict does.
    """
    if type(key) is not str and isinstance(key, _BYTES_TYPES):
        return key.decode("utf-8", "surrogateescape")
    return key


def _decoded_pairs(arg: Any) -> list[Any] | None:
    """Rewrite ``arg`` into a list of pairs with bytes keys decoded.

    Returns None when there is nothing to decode (or ``arg`` cannot even be
    walked), so the caller re-raises the base class's original error instead of
    masking it.  Pairs that are malformed are kept as they are for the same
    reason: the base class then reports them in its own words.
    """
    if isinstance(arg, (_Base, MultiDictProxy)):
        return None  # keys are str already; the error came from elsewhere
    try:
        if hasattr(arg, "keys"):
            # The duck test multidict itself applies to decide "mapping"; such
            # objects need only keys() and [], so items() is not assumed.
            items = [(k, arg[k]) for k in arg.keys()]  # noqa: SIM118
        else:
            items = list(arg)
    except Exception:  # noqa: BLE001 - any failure here means "not ours to fix"
        return None
    changed = False
    for pos, item in enumerate(items):
        if isinstance(item, (tuple, list)) and len(item) == 2:
            key = item[0]
            if type(key) is not str and isinstance(key, _BYTES_TYPES):
                items[pos] = (key.decode("utf-8", "surrogateescape"), item[1])
                changed = True
    return items if changed else None


class MultiDict(_TypedBase):
    """``multidict.MultiDict`` that also takes bytes keys, decoding them as UTF-8.

    >>> from urllib.parse import parse_qsl
    >>> params = MultiDict(parse_qsl(b'a=1&b=2&a=3'))
    >>> params.getall(b'a') == params.getall('a') == [b'1', b'3']
    True
    """

    __slots__ = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args:
            arg = args[0]
            # An iterator would be partly consumed by a first attempt that
            # fails, so it is materialised up front (one C-level list() call).
            if type(arg) is not list and hasattr(type(arg), "__next__"):
                args = (list(arg),) + args[1:]
        try:
            _base_init(self, *args, **kwargs)
        except TypeError:
            if len(args) != 1:
                raise
            fixed = _decoded_pairs(args[0])
            if fixed is None:
                raise
            _base_init(self, fixed, **kwargs)

    # -- lookups -----------------------------------------------------------

    def getall(self, key: str | bytes, *default: Any) -> Any:
        return _base_getall(self, _key(key), *default)

    def getone(self, key: str | bytes, *default: Any) -> Any:
        return _base_getone(self, _key(key), *default)

    def get(self, key: str | bytes, default: Any = None) -> Any:
        return _base_get(self, _key(key), default)

    def __getitem__(self, key: str | bytes) -> Any:
        return _base_getitem(self, _key(key))

    def __contains__(self, key: object) -> bool:
        return _base_contains(self, _key(key))

    # -- single-key mutators -------------------------------------------------

    def add(self, key: str | bytes, value: Any) -> None:
        _base_add(self, _key(key), value)

    def __setitem__(self, key: str | bytes, value: Any) -> None:
        _base_setitem(self, _key(key), value)

    def __delitem__(self, key: str | bytes) -> None:
        _base_delitem(self, _key(key))

    def setdefault(self, key: str | bytes, default: Any = None) -> Any:
        return _base_setdefault(self, _key(key), default)

    def pop(self, key: str | bytes, *default: Any) -> Any:
        return _base_pop(self, _key(key), *default)

    def popone(self, key: str | bytes, *default: Any) -> Any:
        return _base_popone(self, _key(key), *default)

    def popall(self, key: str | bytes, *default: Any) -> Any:
        return _base_popall(self, _key(key), *default)

    # -- bulk mutators ---------------------------------------------------------
    #
    # The base methods insert pair by pair and can fail halfway, leaving the
    # first pairs applied; retrying after a TypeError would then apply them
    # twice.  Converting the argument first (see _safe_args) keeps each call
    # all-or-nothing.

    def extend(self, *args: Any, **kwargs: Any) -> None:
        _base_extend(self, *_safe_args(self, args), **kwargs)

    def update(self, *args: Any, **kwargs: Any) -> None:
        _base_update(self, *_safe_args(self, args), **kwargs)

    if _base_merge is not None:

        def merge(self, *args: Any, **kwargs: Any) -> None:
            _base_merge(self, *_safe_args(self, args), **kwargs)


def _safe_args(target: MultiDict, args: Tuple[Any, ...]) -> Tuple[Any, ...]:
    """Return ``args`` with its one positional argument made safe to apply to ``target``.

    Another multidict (always str-keyed) is passed as is.  ``target`` itself,
    or a proxy (which may view ``target``), is snapshotted first: multidict's
    pure-Python code of 6.x, the one PyPy runs, loops forever on
    ``md.extend(md)``.  Anything else becomes a :class:`MultiDict`, whose
    constructor decodes bytes keys and validates every pair before ``target``
    is touched.
    """
    if len(args) != 1:
        return args
    arg = args[0]
    if arg is None:
        return args  # let the base class report it
    if isinstance(arg, _Base) and arg is not target:
        return args
    return (MultiDict(arg),)
