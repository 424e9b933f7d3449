"""Types of ``llserver._llhttp``, the cffi extension ``build_ffi.py`` generates.

The module is compiled at build time (API mode, out of line), so type
checkers cannot read it.  This stub describes the two objects it exports as
llserver uses them: ``lib``, with the C glue's functions and ``glue.h``'s
constants as declared in ``build_ffi.py``'s ``cdef``, and the part of ``ffi``
the parser calls.  Keep it in step with that ``cdef``.

C types map as cffi converts them: integer types to ``int``, pointers to
:class:`CData` (``ffi.NULL`` for a null pointer), ``const char *`` arguments
accept ``bytes``.
"""

from typing import Any, Callable, List, SupportsIndex, Union, overload

class CData:
    """A cffi pointer or array (an opaque ``_cffi_backend._CDataBase``)."""

    def __getitem__(self, index: SupportsIndex) -> Any: ...
    def __setitem__(self, index: SupportsIndex, value: Any) -> None: ...
    def __add__(self, other: int) -> CData: ...
    def __sub__(self, other: int) -> CData: ...
    def __eq__(self, other: object) -> bool: ...
    def __ne__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...
    def __bool__(self) -> bool: ...

class Buffer:
    """``ffi.buffer(...)``: a view of C memory; slicing copies out ``bytes``."""

    @overload
    def __getitem__(self, index: SupportsIndex) -> bytes: ...
    @overload
    def __getitem__(self, index: slice) -> bytes: ...
    def __setitem__(self, index: Union[SupportsIndex, slice], value: bytes) -> None: ...
    def __len__(self) -> int: ...
    def __buffer__(self, flags: int, /) -> memoryview: ...

class _FFI:
    NULL: CData
    def new(self, cdecl: str, init: Any = ...) -> CData: ...
    def gc(self, cdata: CData, destructor: Callable[[CData], object], size: int = ...) -> CData: ...
    def buffer(self, cdata: CData, size: int = ...) -> Buffer: ...
    # llserver passes only ``char *`` pointers here, which give ``bytes``.
    def string(self, cdata: CData, maxlen: int = ...) -> bytes: ...
    # llserver unpacks only ``int64_t *`` pointers, which give lists of ``int``.
    def unpack(self, cdata: CData, length: int) -> List[int]: ...

class _Lib:
    # lls_parser functions (glue.h)
    def lls_new(
        self, max_line: int, max_field: int, max_head: int, max_count: int, max_body: int, /
    ) -> CData: ...
    def lls_free(self, p: CData, /) -> None: ...
    def lls_feed(
        self, p: CData, data: Union[bytes, CData], start: int, len: int, budget: int, /
    ) -> int: ...
    def lls_finish(self, p: CData, /) -> int: ...
    def lls_buffers(
        self,
        p: CData,
        events: CData,
        text: CData,
        raw: CData,
        ev_cap: CData,
        text_cap: CData,
        raw_cap: CData,
        /,
    ) -> None: ...
    def lls_resume_after_upgrade(self, p: CData, /) -> None: ...
    def lls_error_reason(self, p: CData, /) -> CData: ...
    def lls_method_name(self, method: int, /) -> CData: ...
    def llhttp_errno_name(self, err: int, /) -> CData: ...

    # events (enum lls_event)
    LLS_EV_HEAD: int
    LLS_EV_BODY: int
    LLS_EV_END: int
    LLS_EV_STATUS: int

    # feed status (enum lls_status)
    LLS_OK: int
    LLS_PAUSED: int
    LLS_UPGRADE: int
    LLS_ERROR: int
    LLS_YIELD: int

    # head flags (enum lls_flag)
    LLS_F_KEEP_ALIVE: int
    LLS_F_UPGRADE: int
    LLS_F_CHUNKED: int
    LLS_F_CONTENT_LENGTH: int
    LLS_F_EXPECT_CONTINUE: int
    LLS_F_GZIP: int
    LLS_F_DEFLATE: int
    LLS_F_HAS_BODY: int

    # the glue's own errors (enum lls_error)
    LLS_E_URI_TOO_LONG: int
    LLS_E_HEADERS_TOO_LARGE: int
    LLS_E_FIELD_TOO_LARGE: int
    LLS_E_TOO_MANY_HEADERS: int
    LLS_E_BODY_TOO_LARGE: int
    LLS_E_MISSING_HOST: int
    LLS_E_DUPLICATE_HOST: int
    LLS_E_TE_NOT_CHUNKED: int
    LLS_E_TE_UNSUPPORTED: int
    LLS_E_TE_HTTP10: int
    LLS_E_NUL: int
    LLS_E_VERSION: int
    LLS_E_TRAILERS_TOO_LARGE: int
    LLS_E_NO_MEMORY: int
    LLS_E_NO_VERSION: int

ffi: _FFI
lib: _Lib

__all__ = ["ffi", "lib"]
