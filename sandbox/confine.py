"""Confinement the harness applies to itself just before the untrusted program runs.

This is the layer every backend shares, so that even the plain-process fallback is more than
a child process: resource limits (rlimits), then `no_new_privs`, then Landlock (no writes
anywhere, reads only below the given roots, no TCP, no signals or abstract sockets outside),
then a seccomp filter (no new processes, no exec, no sockets, no privileged or
ownership-changing calls). bubblewrap and docker add namespaces around it.

Every step only ever narrows what the process may do; none can be undone afterwards.
Landlock and seccomp are reached through `ctypes` because the standard library has no binding.
"""

from __future__ import annotations

import ctypes
import os
import platform
import resource
import struct

# --- rlimits -----------------------------------------------------------------------------


def apply_rlimits(limits: dict[str, float | int]) -> None:
    """CPU seconds (SIGXCPU at the soft limit, SIGKILL one second later), address space,
    open files, no core dumps, no files written, and a process count (effective when the
    process is not root in the initial user namespace)."""
    cpu = int(limits["cpu_seconds"])
    settings = {
        resource.RLIMIT_CPU: (cpu, cpu + 1),
        resource.RLIMIT_AS: (int(limits["memory_bytes"]),) * 2,
        resource.RLIMIT_NOFILE: (64, 64),
        resource.RLIMIT_CORE: (0, 0),
        resource.RLIMIT_FSIZE: (0, 0),
        resource.RLIMIT_NPROC: (int(limits["processes"]),) * 2,
    }
    for which, (soft, hard) in settings.items():
        current_hard = resource.getrlimit(which)[1]
        if current_hard != resource.RLIM_INFINITY:
            soft, hard = min(soft, current_hard), min(hard, current_hard)
        resource.setrlimit(which, (soft, hard))


# --- libc plumbing -----------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.prctl.argtypes = [
    ctypes.c_int,
    ctypes.c_ulong,
    ctypes.c_ulong,
    ctypes.c_ulong,
    ctypes.c_ulong,
]
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2


def _check(result: int, what: str) -> int:
    if result < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")
    return result


def set_no_new_privs() -> None:
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")


# --- Landlock ------------------------------------------------------------------------------

_LANDLOCK_SYSCALLS = {"x86_64": (444, 445, 446), "aarch64": (444, 445, 446)}
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
# Filesystem rights by the ABI version that introduced them.
_FS_EXECUTE, _FS_READ_FILE, _FS_READ_DIR = 1 << 0, 1 << 2, 1 << 3
_FS_RIGHTS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 when Landlock is missing or disabled."""
    numbers = _LANDLOCK_SYSCALLS.get(platform.machine())
    if numbers is None:
        return 0
    version = _libc.syscall(
        numbers[0], None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION)
    )
    return max(int(version), 0)


def apply_landlock(read_roots: list[str]) -> int:
    """Forbid every filesystem write, allow reads only below `read_roots`, forbid TCP bind and
    connect (ABI 4+) and signals or abstract Unix sockets leaving the domain (ABI 6+).
    Returns the ABI used, 0 when Landlock is unavailable (nothing applied)."""
    abi = landlock_abi()
    if abi == 0:
        return 0
    create, add_rule, restrict = _LANDLOCK_SYSCALLS[platform.machine()]
    fs_rights = max(rights for version, rights in _FS_RIGHTS_BY_ABI.items() if version <= abi)
    fields = [fs_rights]
    if abi >= 4:
        fields.append(_NET_BIND_TCP | _NET_CONNECT_TCP)
    if abi >= 6:
        fields.append(_SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL)
    attr = ctypes.create_string_buffer(struct.pack(f"{len(fields)}Q", *fields))
    ruleset = _check(
        _libc.syscall(create, attr, ctypes.c_size_t(len(attr.raw)), ctypes.c_uint32(0)),
        "landlock_create_ruleset",
    )
    try:
        for root in read_roots:
            try:
                fd = os.open(root, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue  # a root that does not exist here grants nothing
            try:
                rights = _FS_EXECUTE | _FS_READ_FILE
                if os.path.isdir(root):
                    rights |= _FS_READ_DIR
                rule = ctypes.create_string_buffer(struct.pack("=Qi", rights, fd))
                _check(
                    _libc.syscall(add_rule, ruleset, _RULE_PATH_BENEATH, rule, ctypes.c_uint32(0)),
                    f"landlock_add_rule({root})",
                )
            finally:
                os.close(fd)
        _check(_libc.syscall(restrict, ruleset, ctypes.c_uint32(0)), "landlock_restrict_self")
    finally:
        os.close(ruleset)
    return abi


# --- seccomp -------------------------------------------------------------------------------

_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
# Calls an IR builder never needs and an escape would: process creation and exec, sockets,
# ptrace and cross-process memory, signals, privilege, ownership and mode changes, mounts and
# namespaces, kernel modules, clocks, keyrings, bpf, io_uring (whose operations bypass seccomp).
# fmt: off
_DENIED = {
    "x86_64": {
        "fork": 57, "vfork": 58, "execve": 59, "execveat": 322,
        "socket": 41, "socketpair": 53, "ptrace": 101, "process_vm_readv": 310,
        "process_vm_writev": 311, "kill": 62, "tkill": 200, "tgkill": 234,
        "setuid": 105, "setgid": 106, "setreuid": 113, "setregid": 114, "setresuid": 117,
        "setresgid": 119, "setgroups": 116, "setfsuid": 122, "setfsgid": 123, "capset": 126,
        "chmod": 90, "fchmod": 91, "fchmodat": 268, "fchmodat2": 452, "chown": 92,
        "fchown": 93, "lchown": 94, "fchownat": 260, "mknod": 133, "mknodat": 259,
        "utime": 132, "utimes": 235, "utimensat": 280, "futimesat": 261,
        "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161, "unshare": 272,
        "setns": 308, "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431,
        "fsmount": 432, "fspick": 433, "mount_setattr": 442, "reboot": 169,
        "kexec_load": 246, "kexec_file_load": 320, "init_module": 175, "finit_module": 313,
        "delete_module": 176, "swapon": 167, "swapoff": 168, "sethostname": 170,
        "setdomainname": 171, "settimeofday": 164, "clock_settime": 227, "adjtimex": 159,
        "clock_adjtime": 305, "acct": 163, "quotactl": 179, "bpf": 321,
        "perf_event_open": 298, "keyctl": 250, "add_key": 248, "request_key": 249,
        "ioperm": 173, "iopl": 172, "userfaultfd": 323, "open_by_handle_at": 304,
        "name_to_handle_at": 303, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427, "fanotify_init": 300, "syslog": 103, "vhangup": 153,
        "uselib": 134,
    },
    "aarch64": {  # the generic table; not exercised on this project's x86_64 machines
        "execve": 221, "execveat": 281, "socket": 198, "socketpair": 199,
        "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "kill": 129,
        "tkill": 130, "tgkill": 131, "setuid": 146, "setgid": 144, "setreuid": 145,
        "setregid": 143, "setresuid": 147, "setresgid": 149, "setgroups": 159,
        "setfsuid": 151, "setfsgid": 152, "capset": 91, "fchmod": 52, "fchmodat": 53,
        "fchmodat2": 452, "fchown": 55, "fchownat": 54, "mknodat": 33, "utimensat": 88,
        "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51, "unshare": 97,
        "setns": 268, "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431,
        "fsmount": 432, "fspick": 433, "mount_setattr": 442, "reboot": 142,
        "kexec_load": 104, "kexec_file_load": 294, "init_module": 105, "finit_module": 273,
        "delete_module": 106, "swapon": 224, "swapoff": 225, "sethostname": 161,
        "setdomainname": 162, "settimeofday": 170, "clock_settime": 112, "adjtimex": 171,
        "clock_adjtime": 266, "acct": 89, "quotactl": 60, "bpf": 280,
        "perf_event_open": 241, "keyctl": 219, "add_key": 217, "request_key": 218,
        "userfaultfd": 282, "open_by_handle_at": 265, "name_to_handle_at": 264,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
        "fanotify_init": 262, "syslog": 116, "vhangup": 58,
    },
}
# fmt: on
_CLONE = {"x86_64": 56, "aarch64": 220}
_CLONE_THREAD = 0x00010000
_X32_SYSCALL_BIT = 0x40000000

_LD_W_ABS, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06
_RET_ALLOW, _RET_ERRNO, _RET_KILL_PROCESS = 0x7FFF0000, 0x00050000, 0x80000000
_EPERM, _ENOSYS = 1, 38
_OFFSET_NR, _OFFSET_ARCH, _OFFSET_ARG0 = 0, 4, 16


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


def seccomp_program(machine: str) -> bytes:
    """The BPF filter for `machine`: deny the calls above with EPERM; clone only for threads;
    clone3 answers ENOSYS so the C library falls back to clone; a foreign ABI is killed."""
    denied = sorted(_DENIED[machine].values())
    program = [
        _insn(_LD_W_ABS, _OFFSET_ARCH),
        _insn(_JEQ, _AUDIT_ARCH[machine], jt=1),
        _insn(_RET, _RET_KILL_PROCESS),
        _insn(_LD_W_ABS, _OFFSET_NR),
    ]
    if machine == "x86_64":  # the x32 ABI reuses numbers with a high bit: refuse it outright
        program += [_insn(_JGE, _X32_SYSCALL_BIT, jt=0, jf=1), _insn(_RET, _RET_KILL_PROCESS)]
    # Layout after the checks: clone3 test, clone test, one test per denied call, allow, deny.
    n = len(denied)
    program += [_insn(_JEQ, 435, jf=1), _insn(_RET, _RET_ERRNO | _ENOSYS)]
    program += [
        _insn(_JEQ, _CLONE[machine], jf=3),
        _insn(_LD_W_ABS, _OFFSET_ARG0),
        _insn(_JSET, _CLONE_THREAD, jf=n + 2),  # a thread may be made; a process may not
        _insn(_RET, _RET_ALLOW),
    ]
    program += [_insn(_JEQ, number, jt=n - k) for k, number in enumerate(denied)]
    program += [_insn(_RET, _RET_ALLOW), _insn(_RET, _RET_ERRNO | _EPERM)]
    return b"".join(program)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def apply_seccomp() -> bool:
    """Install the filter; False (nothing applied) on a machine whose table we lack."""
    machine = platform.machine()
    if machine not in _DENIED:
        return False
    code = seccomp_program(machine)
    buffer = ctypes.create_string_buffer(code, len(code))
    fprog = _SockFprog(len(code) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    _check(
        _libc.prctl(
            PR_SET_SECCOMP,
            SECCOMP_MODE_FILTER,
            ctypes.cast(ctypes.pointer(fprog), ctypes.c_void_p).value,
            0,
            0,
        ),
        "prctl(SECCOMP)",
    )
    return True


def confine(read_roots: list[str]) -> list[str]:
    """Apply no_new_privs, Landlock and seccomp; return the layers that took effect."""
    set_no_new_privs()
    layers = ["no_new_privs"]
    abi = apply_landlock(read_roots)
    if abi:
        layers.append(f"landlock-abi{abi}")
    if apply_seccomp():
        layers.append("seccomp")
    return layers
