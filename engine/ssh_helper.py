"""The program an SSH source runs on the remote host, as `python3 -c CODE probe|serve`.

It is sent with the command (no file is left on the host) and needs only the standard
library of python3 >= 3.6, so the host needs nothing of ours. It never hands anything
to a shell: commands run from an argument list.

    probe   print {"python": [3, 11, 2], "uid": 0, "user": "root"} and exit
    serve   answer requests on stdin until it closes, one at a time:
              request   one JSON line: {"op": "run", "argv": [...], "timeout": 10, "max": N}
                                       {"op": "read", "path": "/proc/mounts", "max": N}
                                       {"op": "listdir", "path": "/sys/block"}
              answer    one JSON line {"status", "rc", "detail", "out": N, "err": M},
                        then N bytes of output and M bytes of error output

Statuses are those of engine/sources.py: ok, missing, failed, denied, timeout, absent.
"""
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time

SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")  # a non-root login's PATH often lacks them


def _path():
    parts = [p for p in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep) if p]
    return os.pathsep.join(parts + [d for d in SBIN if d not in parts])


def probe():
    import pwd
    uid = os.geteuid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    sys.stdout.write(json.dumps({"python": list(sys.version_info[:3]), "uid": uid, "user": user}))


def run(argv, timeout, limit=1 << 28):
    """(status, rc, detail, stdout, stderr) of one command, killed with its process group
    when its time is up, or when its output passes LIMIT bytes (kept: the first LIMIT)."""
    path = _path()
    exe = shutil.which(argv[0], path=path) if argv else None
    if exe is None:
        return "missing", None, "%s is not installed" % (argv[:1] or ["(nothing)"])[0], b"", b""
    env = dict(os.environ, PATH=path, LC_ALL="C.UTF-8", SYSTEMD_PAGER="", PAGER="cat",
               SYSTEMD_COLORS="0")
    try:
        proc = subprocess.Popen([exe] + list(argv[1:]), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, start_new_session=True)
    except PermissionError as err:
        return "denied", None, str(err), b"", b""
    except OSError as err:
        return "failed", None, str(err), b"", b""
    out, err, timed_out, cut = _collect(proc, float(timeout), int(limit))
    if timed_out:
        return "timeout", None, "no answer within %g s" % float(timeout), b"", b""
    if cut:
        return "ok", 0, "output cut at %d MiB (the command was stopped there)" % (limit >> 20), out, err
    if proc.returncode != 0:
        return "failed", proc.returncode, "exit status %d" % proc.returncode, out, err
    return "ok", 0, "", out, err


def _collect(proc, timeout, limit):
    """stdout (at most LIMIT bytes) and stderr (its first MiB) of PROC, read as they come:
    a command that floods is stopped at LIMIT instead of filling this host's memory and
    the connection. Returns (stdout, stderr, timed out, cut). The same as
    sources.communicate_capped on purpose: this file runs alone on the remote host."""
    deadline = time.monotonic() + timeout
    keep = {proc.stdout: limit, proc.stderr: 1 << 20}
    chunks = {proc.stdout: [], proc.stderr: []}
    sizes = dict.fromkeys(keep, 0)
    timed_out = cut = False
    with selectors.DefaultSelector() as sel:
        for pipe in keep:
            sel.register(pipe, selectors.EVENT_READ)
        while sel.get_map() and not cut:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            for key, _ in sel.select(left):
                data = os.read(key.fd, 1 << 16)
                if not data:
                    sel.unregister(key.fileobj)
                    continue
                room = keep[key.fileobj] - sizes[key.fileobj]
                if room > 0:
                    chunks[key.fileobj].append(data[:room])
                    sizes[key.fileobj] += min(room, len(data))
                elif key.fileobj is proc.stdout:
                    cut = True
    if timed_out or cut:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            proc.kill()
    try:  # a process stuck in the kernel (hung NFS) may never die: do not wait long for it
        proc.wait(timeout=1 if timed_out or cut else max(deadline - time.monotonic(), 1))
    except subprocess.TimeoutExpired:
        timed_out = not cut
    for pipe in keep:
        pipe.close()
    return b"".join(chunks[proc.stdout]), b"".join(chunks[proc.stderr]), timed_out, cut


def read(path, limit):
    chunks, size = [], 0
    try:
        with open(path, "rb") as fh:
            while size < limit:  # chunks: /proc and /sys files answer in short reads
                chunk = fh.read(min(limit - size, 1 << 20))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
    except FileNotFoundError:
        return "absent", None, "no such file", b"", b""
    except PermissionError as err:
        return "denied", None, err.strerror or "permission denied", b"", b""
    except OSError as err:
        return "failed", None, err.strerror or str(err), b"", b""
    return "ok", 0, "", b"".join(chunks), b""


def listdir(path):
    try:
        names = sorted(os.listdir(path))
    except FileNotFoundError as err:
        return "absent", None, err.strerror, b"[]", b""
    except OSError as err:
        return "failed", None, err.strerror or str(err), b"[]", b""
    return "ok", 0, "", json.dumps(names).encode(), b""  # odd bytes travel as \udcXX escapes


def answer(request):
    op = request.get("op")
    if op == "run":
        return run(request.get("argv") or [], request.get("timeout", 10), int(request.get("max", 1 << 28)))
    if op == "read":
        return read(request["path"], int(request.get("max", 1 << 28)))
    if op == "listdir":
        return listdir(request["path"])
    return "failed", None, "unknown request %r" % (op,), b"", b""


def serve():
    inp = sys.stdin.buffer
    out = sys.stdout.buffer
    while True:
        line = inp.readline()
        if not line:
            return
        try:
            status, rc, detail, data, err = answer(json.loads(line.decode("utf-8")))
        except (ValueError, KeyError, TypeError) as exc:
            status, rc, detail, data, err = "failed", None, "bad request: %s" % exc, b"", b""
        head = {"status": status, "rc": rc, "detail": detail, "out": len(data), "err": len(err)}
        out.write(json.dumps(head).encode() + b"\n" + data + err)
        out.flush()


def main(args):
    if args[:1] == ["probe"]:
        probe()
    elif args[:1] == ["serve"]:
        serve()
    else:
        sys.stderr.write("hostmedic helper: give probe or serve\n")
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv[1:])
