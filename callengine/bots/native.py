"""pjsua C functions through ctypes. The pjsua2-pybind11 wheel binds no file player or recorder
and no way to poll; those come from the same shared libraries as the wheel's own code."""
from __future__ import annotations

import ctypes
from pathlib import Path

import pjsua2 as pj


class PjStr(ctypes.Structure):
    """pj_str_t: pjlib's counted string."""

    _fields_ = [("ptr", ctypes.c_char_p), ("slen", ctypes.c_ssize_t)]


def pj_str(text: str) -> PjStr:
    raw = text.encode()
    return PjStr(raw, len(raw))


class Native:
    """pjsua C functions the wheel does not bind, from the very libraries pjsua2 is linked to
    (dlopen of the same file returns the loaded copy, so they share pjsua's state)."""

    def __init__(self) -> None:
        libs = Path(pj.__file__).parent / "pjsua2_pybind11.libs"
        self._pjsua = ctypes.CDLL(str(self._find(libs, "libpjsua")))  # CDLL: drops the GIL in calls
        self._pj = ctypes.CDLL(str(self._find(libs, "libpj")))
        self._declare()

    @staticmethod
    def _find(folder: Path, stem: str) -> Path:
        found = sorted(folder.glob(f"{stem}-*.so*"))
        if not found:
            raise ImportError(f"{stem} not found in {folder}: the bots need the pjsua2-pybind11 "
                              "0.1a3 manylinux wheel layout")
        return found[0]

    def _declare(self) -> None:
        i, u, ptr = ctypes.c_int, ctypes.c_uint, ctypes.POINTER
        for name, args, result in (
            ("pjsua_handle_events", [u], i),
            ("pjsua_player_create", [ptr(PjStr), u, ptr(i)], i),
            ("pjsua_player_get_conf_port", [i], i),
            ("pjsua_player_destroy", [i], i),
            ("pjsua_recorder_create", [ptr(PjStr), u, ctypes.c_void_p, ctypes.c_ssize_t, u, ptr(i)], i),
            ("pjsua_recorder_get_conf_port", [i], i),
            ("pjsua_recorder_destroy", [i], i),
            ("pjsua_conf_connect", [i, i], i),
            ("pjsua_conf_get_signal_level", [i, ptr(u), ptr(u)], i),
            ("pjsua_call_get_conf_port", [i], i),
            ("pjsua_call_get_max_count", [], u),
            ("pjsua_codec_set_priority", [ptr(PjStr), ctypes.c_uint8], i),
        ):
            func = getattr(self._pjsua, name)
            func.argtypes, func.restype = args, result
        self._pj.pj_log_set_level.argtypes, self._pj.pj_log_set_level.restype = [i], None
        self._pj.pj_strerror.argtypes = [i, ctypes.c_char_p, ctypes.c_size_t]
        self._pj.pj_strerror.restype = PjStr

    def check(self, status: int, what: str) -> None:
        if status != 0:
            buf = ctypes.create_string_buffer(200)
            text = self._pj.pj_strerror(status, buf, len(buf))
            raise RuntimeError(f"{what}: {buf.raw[:text.slen].decode(errors='replace')} ({status})")

    def set_log_level(self, level: int) -> None:
        self._pj.pj_log_set_level(level)

    def handle_events(self, msec: int) -> None:
        """Poll pjsua for up to msec; the GIL is released meanwhile."""
        self._pjsua.pjsua_handle_events(msec)

    def max_calls(self) -> int:
        return int(self._pjsua.pjsua_call_get_max_count())

    def call_slot(self, call_id: int) -> int:
        """The conference slot of a call's media (negative while it has none)."""
        return int(self._pjsua.pjsua_call_get_conf_port(call_id))

    def player(self, path: Path) -> tuple[int, int]:
        """A looping WAV player: (player id, conference slot)."""
        pid = ctypes.c_int(-1)
        self.check(self._pjsua.pjsua_player_create(ctypes.byref(pj_str(str(path))), 0,
                                                   ctypes.byref(pid)), f"play {path}")
        return pid.value, self._pjsua.pjsua_player_get_conf_port(pid.value)

    def destroy_player(self, player_id: int) -> None:
        self._pjsua.pjsua_player_destroy(player_id)

    def recorder(self, path: Path) -> tuple[int, int]:
        """A WAV recorder at the bridge's rate (8 kHz mono 16-bit): (recorder id, slot)."""
        rid = ctypes.c_int(-1)
        self.check(self._pjsua.pjsua_recorder_create(ctypes.byref(pj_str(str(path))), 0, None, 0, 0,
                                                     ctypes.byref(rid)), f"record {path}")
        return rid.value, self._pjsua.pjsua_recorder_get_conf_port(rid.value)

    def destroy_recorder(self, recorder_id: int) -> None:
        """Completes the recorder's WAV."""
        self._pjsua.pjsua_recorder_destroy(recorder_id)

    def connect(self, source: int, sink: int) -> None:
        self.check(self._pjsua.pjsua_conf_connect(source, sink), f"connect slot {source} to {sink}")

    def rx_level(self, slot: int) -> int:
        tx, rx = ctypes.c_uint(0), ctypes.c_uint(0)
        self._pjsua.pjsua_conf_get_signal_level(slot, ctypes.byref(tx), ctypes.byref(rx))
        return rx.value

    def codec_priority(self, codec: str, priority: int) -> None:
        self._pjsua.pjsua_codec_set_priority(ctypes.byref(pj_str(codec)), priority)  # absent: ignored
