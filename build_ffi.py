"""Build ``llserver._llhttp``: llhttp and llserver's C glue in one cffi module.

API mode, out-of-line: cffi writes a C extension that calls the glue
directly.  llhttp's sources come from the package registry at build time
(``vendor/fetch_llhttp.py``, pinned and checksummed in ``vendor/llhttp.json``).
The ``cdef`` declares only what Python calls; everything llhttp-specific
stays behind the glue.
"""

import os
import shutil
import sys

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(globals().get("__file__", "build_ffi.py")))
sys.path.insert(0, os.path.join(HERE, "vendor"))
from fetch_llhttp import fetch  # noqa: E402

GLUE = os.path.join("llserver", "_glue")
llhttp = fetch()
# llhttp's MIT licence travels with the built package.
shutil.copyfile(llhttp["license"], os.path.join(HERE, "llserver", "LICENSE-llhttp.txt"))

ffibuilder = FFI()
ffibuilder.cdef(
    """
    typedef struct lls_parser_s lls_parser;
    lls_parser *lls_new(uint64_t max_line, uint64_t max_field, uint64_t max_head,
                        uint64_t max_count, uint64_t max_body);
    void lls_free(lls_parser *p);
    int64_t lls_feed(lls_parser *p, const char *data, size_t start, size_t len,
                     uint32_t budget);
    int64_t lls_finish(lls_parser *p);
    void lls_buffers(lls_parser *p, int64_t **events, char **text, char **raw,
                     size_t *ev_cap, size_t *text_cap, size_t *raw_cap);
    void lls_resume_after_upgrade(lls_parser *p);
    const char *lls_error_reason(lls_parser *p);
    const char *lls_method_name(int method);

    /* glue.h's enums; the compiler supplies the values */
    static const int LLS_EV_HEAD, LLS_EV_BODY, LLS_EV_END, LLS_EV_STATUS;
    static const int LLS_OK, LLS_PAUSED, LLS_UPGRADE, LLS_ERROR, LLS_YIELD;
    static const int LLS_F_KEEP_ALIVE, LLS_F_UPGRADE, LLS_F_CHUNKED, LLS_F_CONTENT_LENGTH,
                     LLS_F_EXPECT_CONTINUE, LLS_F_GZIP, LLS_F_DEFLATE, LLS_F_HAS_BODY;
    static const int LLS_E_URI_TOO_LONG, LLS_E_HEADERS_TOO_LARGE, LLS_E_FIELD_TOO_LARGE,
                     LLS_E_TOO_MANY_HEADERS, LLS_E_BODY_TOO_LARGE, LLS_E_MISSING_HOST,
                     LLS_E_DUPLICATE_HOST, LLS_E_TE_NOT_CHUNKED, LLS_E_TE_UNSUPPORTED,
                     LLS_E_TE_HTTP10, LLS_E_NUL, LLS_E_VERSION, LLS_E_TRAILERS_TOO_LARGE,
                     LLS_E_NO_MEMORY, LLS_E_NO_VERSION;
    const char *llhttp_errno_name(int err);
    """
)
ffibuilder.set_source(
    "llserver._llhttp",
    '#include "glue.h"',
    sources=[os.path.join(GLUE, "glue.c"), *llhttp["sources"]],
    include_dirs=[GLUE, llhttp["include_dir"]],
    extra_compile_args=["-O3"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
