"""Confine the current process before it runs untrusted Python: Linux Landlock, seccomp and rlimits.

:func:`confine` is called inside a limited child process (:mod:`meshplane.engines.limits`) just before a
Python transform's code runs, and cannot be undone by it:

- **files** (Landlock, Linux 5.13+): read-only access below the given folders (the Python installation and
  its import path), read-write below the scratch folder, nothing else: no warehouse file, no catalog
  database, no mesh secret, no ``/etc``, no ``/proc`` of other processes, no home folder;
- **network** (Landlock ABI 4+ for TCP; seccomp for every socket): ``socket()`` fails, so no TCP, UDP or
  Unix-socket connection (a local PostgreSQL socket included);
- **processes** (seccomp): no ``execve``, ``fork``/``vfork`` or new process (threads stay allowed), no
  ``ptrace``, ``process_vm_*``, ``mount``, ``unshare``/``setns``, ``bpf``, ``io_uring``, ``setrlimit`` and
  other administration calls; Landlock ABI 6+ also scopes signals, so the transform cannot signal the
  platform's processes;
- **resources** (rlimits, set before seccomp forbids changing them): file size and open files here; address
  space and CPU seconds by the limited child (:class:`~meshplane.engines.limits.ProcessLimits`).

Without Landlock (an old kernel) or on another architecture than x86-64, :func:`confine` raises
:class:`~meshplane.errors.EngineUnavailable` unless the caller accepts running unconfined
(``required=False``); the platform never silently runs user code unconfined.
"""

from __future__ import annotations

import ctypes
import os
import platform
import resource
import struct
from collections.abc import Iterable

from meshplane.errors import EngineUnavailable

__all__ = ["confine", "landlock_abi"]

_SYS_LANDLOCK_CREATE_RULESET = 444
_SYS_LANDLOCK_ADD_RULE = 445
_SYS_LANDLOCK_RESTRICT_SELF = 446
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2

_READ = (1 << 0) | (1 << 2) | (1 << 3)  # EXECUTE, READ_FILE, READ_DIR
_FS_BITS_BY_ABI = {1: 13, 2: 14, 3: 15, 4: 15, 5: 16}  # rights handled per Landlock ABI version

# x86-64 system call numbers refused by the seccomp filter (errno EPERM), besides clone without CLONE_THREAD.
_DENIED_SYSCALLS = {
    41: "socket", 53: "socketpair", 57: "fork", 58: "vfork", 59: "execve", 322: "execveat", 435: "clone3",
    101: "ptrace", 310: "process_vm_readv", 311: "process_vm_writev", 165: "mount", 166: "umount2",
    272: "unshare", 308: "setns", 321: "bpf", 425: "io_uring_setup", 426: "io_uring_enter",
    427: "io_uring_register", 160: "setrlimit", 302: "prlimit64", 161: "chroot", 155: "pivot_root",
    175: "init_module", 313: "finit_module", 176: "delete_module", 169: "reboot", 246: "kexec_load",
    320: "kexec_file_load", 167: "swapon", 168: "swapoff", 298: "perf_event_open", 323: "userfaultfd",
    248: "add_key", 249: "request_key", 250: "keyctl", 304: "open_by_handle_at", 303: "name_to_handle_at",
    105: "setuid", 106: "setgid", 113: "setreuid", 114: "setregid", 117: "setresuid", 119: "setresgid",
    126: "capset", 157: "prctl", 444: "landlock_create_ruleset", 445: "landlock_add_rule",
    446: "landlock_restrict_self", 317: "seccomp",
}  # fmt: skip
_SYS_CLONE = 56
_SYS_CLONE3 = 435
_CLONE_THREAD = 0x00010000
_AUDIT_ARCH_X86_64 = 0xC000003E
_X32_SYSCALL_BIT = 0x40000000


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def landlock_abi() -> int:
    """The kernel's Landlock ABI version; 0 when Landlock is unavailable."""
    if platform.system() != "Linux" or platform.machine() != "x86_64":
        return 0
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    version = libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return max(int(version), 0)


def _check(result: int, what: str) -> int:
    if result < 0:
        errno = ctypes.get_errno()
        raise EngineUnavailable(f"cannot confine the Python transform: {what} failed ({os.strerror(errno)})")
    return result


def _landlock(abi: int, readable: Iterable[str], writable: Iterable[str]) -> None:
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    handled_fs = (1 << _FS_BITS_BY_ABI.get(abi, 16)) - 1
    handled_net = 0b11 if abi >= 4 else 0  # BIND_TCP, CONNECT_TCP: no rule allows either
    scoped = 0b11 if abi >= 6 else 0  # abstract Unix sockets and signals stay inside the sandbox
    if abi >= 6:
        attr = struct.pack("QQQ", handled_fs, handled_net, scoped)
    elif abi >= 4:
        attr = struct.pack("QQ", handled_fs, handled_net)
    else:
        attr = struct.pack("Q", handled_fs)
    buffer = ctypes.create_string_buffer(attr, len(attr))
    ruleset = _check(libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, buffer, ctypes.c_size_t(len(attr)),
                                  ctypes.c_uint32(0)), "landlock_create_ruleset")  # fmt: skip
    try:
        for paths, access in ((readable, _READ), (writable, handled_fs)):
            for path in paths:
                try:
                    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
                except OSError:
                    continue  # a folder that does not exist grants nothing
                try:
                    is_dir = os.path.isdir(path)
                    # a rule on a file may only carry file rights
                    rights = access if is_dir else access & ((1 << 0) | (1 << 1) | (1 << 2) | (1 << 14) | (1 << 15))
                    rule = ctypes.create_string_buffer(struct.pack("=Qi", rights & handled_fs, fd), 12)
                    _check(libc.syscall(_SYS_LANDLOCK_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(1), rule,
                                        ctypes.c_uint32(0)), f"landlock_add_rule({path})")  # fmt: skip
                finally:
                    os.close(fd)
        _check(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
        _check(libc.syscall(_SYS_LANDLOCK_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)),
               "landlock_restrict_self")  # fmt: skip
    finally:
        os.close(ruleset)


def _bpf(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


def _seccomp() -> None:
    ld_w_abs, jeq_k, jset_k, ret_k, jge_k = 0x20, 0x15, 0x45, 0x06, 0x35
    allow, kill, eperm, enosys = 0x7FFF0000, 0x80000000, 0x00050000 | 1, 0x00050000 | 38
    denied = sorted(_DENIED_SYSCALLS)
    program = [
        _bpf(ld_w_abs, 0, 0, 4),  # arch
        _bpf(jeq_k, 1, 0, _AUDIT_ARCH_X86_64),
        _bpf(ret_k, 0, 0, kill),
        _bpf(ld_w_abs, 0, 0, 0),  # system call number
        _bpf(jge_k, 0, 1, _X32_SYSCALL_BIT),
        _bpf(ret_k, 0, 0, eperm),
    ]
    for number in denied:
        program.append(_bpf(jeq_k, 0, 1, number))
        # clone3 answers ENOSYS, so the C library falls back to clone, whose flags the filter can read
        program.append(_bpf(ret_k, 0, 0, enosys if number == _SYS_CLONE3 else eperm))
    program += [
        _bpf(jeq_k, 0, 3, _SYS_CLONE),
        _bpf(ld_w_abs, 0, 0, 16),  # clone's flags (low 32 bits of the first argument)
        _bpf(jset_k, 0, 1, _CLONE_THREAD),
        _bpf(ret_k, 0, 0, allow),  # a thread
        _bpf(ld_w_abs, 0, 0, 0),
        _bpf(jeq_k, 0, 1, _SYS_CLONE),
        _bpf(ret_k, 0, 0, eperm),  # a new process
        _bpf(ret_k, 0, 0, allow),
    ]
    filters = b"".join(program)
    buffer = ctypes.create_string_buffer(filters, len(filters))
    fprog = struct.pack("HxxxxxxQ", len(program), ctypes.addressof(buffer))
    fprog_buffer = ctypes.create_string_buffer(fprog, len(fprog))
    libc = _libc()
    _check(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
    _check(libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, fprog_buffer, 0, 0), "seccomp")


def confine(
    *,
    readable: Iterable[str],
    writable: Iterable[str],
    file_bytes: int = 2 * 2**30,
    open_files: int = 256,
    required: bool = True,
) -> bool:
    """Confine this process for good (see the module docstring); False when it ran unconfined.

    ``readable``: folders (and files) it may read and execute; ``writable``: folders it may also write.
    """
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(open_files, hard), min(open_files, hard)))
    abi = landlock_abi()
    if abi < 1:
        if required:
            raise EngineUnavailable(
                "Python transforms run confined with Linux Landlock (kernel 5.13+ on x86-64), which this system "
                "lacks; set platform.python_sandbox: off in mesh.yaml to run them unconfined (trusted code only)"
            )
        return False
    _landlock(abi, list(readable), list(writable))
    _seccomp()
    return True
