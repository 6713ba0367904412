"""Warm processes for the tests: children forked from a server that has already imported the stack.

Starting a Python process that imports torch, torchvision, mmengine and this package costs about 8 s of CPU;
the tests start dozens (``run_distributed`` ranks, ``tools/train.py`` runs). Python's ``forkserver`` start
method imports a list of modules once in a server process and forks every child from it, so a child starts
in milliseconds. The children are still separate processes: their own pid, environment, working directory,
exit code, stdout and stderr, and a crash or ``SIGKILL`` affects only them.

What differs from ``python script.py``: modules imported by the server are not re-imported, so
anything a module reads from the environment *at import time* sees the server's environment (the test
process's at the first call). Tests of import-time behaviour (plugin discovery switches, ``PYTHONPATH``
handling, entry points) must start a real interpreter instead (``subprocess``).
"""
import atexit
import multiprocessing as mp
import os
import os.path as osp
import runpy
import subprocess
import sys
import tempfile
import traceback
from typing import Dict, List, Optional, Sequence

__all__ = ['PRELOAD', 'preloaded_context', 'ScriptProcess', 'start_script', 'run_script']

#: what the server imports once (a module that fails to import is skipped by multiprocessing); matplotlib.pyplot:
#: every Runner's visualizer imports it (about 1 s)
PRELOAD = ['torch', 'torch.distributed', 'torchvision', 'matplotlib.pyplot', 'mmengine.runner', 'sdfn_plugin',
           'sdfn_plugin.engine', 'sdfn_plugin.datasets', 'sdfn_plugin.models', 'sdfn_plugin.evaluation',
           'sdfn_plugin.tools.train', 'sdfn_plugin.tools.test']


def preloaded_context():
    """The ``forkserver`` multiprocessing context with :data:`PRELOAD` (``spawn`` where there is no forkserver).

    The preload list is process-wide and fixed when the server starts (the first child of this process)."""
    if 'forkserver' not in mp.get_all_start_methods():
        return mp.get_context('spawn')
    ctx = mp.get_context('forkserver')
    ctx.set_forkserver_preload(PRELOAD)
    global _stop_registered
    if not _stop_registered:
        atexit.register(_stop_server)
        _stop_registered = True
    return ctx


_stop_registered = False


def _stop_server() -> None:
    """At exit, stop the server and wait for it: no server outlives the tests, and its CPU time (with its
    children's) is counted in this process's (``/usr/bin/time``, ``getrusage``)."""
    from multiprocessing import forkserver
    try:
        forkserver._forkserver._stop()
    except (AttributeError, OSError):  # a Python without the (private) stop method, or a server already gone
        pass


def _script_main(script: str, args: List[str], cwd: str, env: Dict[str, str], out_path: str, err_path: str,
                 new_session: bool) -> None:
    """Child side: run ``script`` as ``__main__`` the way ``python script args...`` would, then exit."""
    if new_session:
        os.setsid()
    for fd, path in ((1, out_path), (2, err_path)):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(target, fd)
        os.close(target)
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    sys.argv = [script, *args]
    sys.path.insert(0, osp.dirname(osp.abspath(script)))  # as `python script.py` does
    code = 0
    try:
        runpy.run_path(script, run_name='__main__')
    except SystemExit as exc:  # the interpreter's rules for sys.exit(code)
        if exc.code is None:
            code = 0
        elif isinstance(exc.code, int):
            code = exc.code
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except BaseException:  # noqa: B902 - an uncaught exception: traceback on stderr, exit code 1
        traceback.print_exc()
        code = 1
    try:
        atexit._run_exitfuncs()  # logging.shutdown and friends, as at interpreter exit
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001 - a closed stream: nothing left to write
                pass
        os._exit(code)


class ScriptProcess:
    """A script running in a forked child; ``pid``, ``poll()``, ``wait()`` and :meth:`result` like ``Popen``."""

    def __init__(self, script: str, args: Sequence[str], cwd: Optional[str], env: Optional[Dict[str, str]],
                 new_session: bool = False) -> None:
        self.args = [script, *map(str, args)]
        self._tmp = tempfile.TemporaryDirectory(prefix='sdfn_script_')
        self._out, self._err = osp.join(self._tmp.name, 'stdout'), osp.join(self._tmp.name, 'stderr')
        self._proc = preloaded_context().Process(
            target=_script_main, daemon=False,
            args=(script, self.args[1:], cwd or os.getcwd(), dict(os.environ if env is None else env), self._out,
                  self._err, new_session))
        self._proc.start()
        self.pid = self._proc.pid

    def poll(self) -> Optional[int]:
        return self._proc.exitcode

    def wait(self, timeout: Optional[float] = None) -> int:
        self._proc.join(timeout)
        if self._proc.exitcode is None:
            raise subprocess.TimeoutExpired(self.args, timeout)
        return self._proc.exitcode

    def kill(self) -> None:
        self._proc.kill()
        self._proc.join()

    def result(self, timeout: Optional[float] = None) -> subprocess.CompletedProcess:
        """Wait (killing the child after ``timeout`` s, then ``TimeoutExpired``) and collect its output."""
        try:
            code = self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        try:
            with open(self._out, encoding='utf-8', errors='replace') as f_out, \
                    open(self._err, encoding='utf-8', errors='replace') as f_err:
                return subprocess.CompletedProcess(self.args, code, f_out.read(), f_err.read())
        finally:
            self._tmp.cleanup()


def start_script(script: str, *args: str, cwd: Optional[str] = None, env: Optional[Dict[str, str]] = None,
                 new_session: bool = False) -> ScriptProcess:
    """Start ``python script *args`` as a warm child (``env``: its whole environment, default this process's;
    ``new_session``: the child leads a new session, so ``os.killpg(child.pid, ...)`` reaches it)."""
    return ScriptProcess(script, args, cwd, env, new_session)


def run_script(script: str, *args: str, cwd: Optional[str] = None, env: Optional[Dict[str, str]] = None,
               timeout: float = 300) -> subprocess.CompletedProcess:
    """``subprocess.run([python, script, *args], capture_output=True, text=True)`` in a warm child."""
    return start_script(script, *args, cwd=cwd, env=env).result(timeout)
