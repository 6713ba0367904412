"""Writing JSON outputs atomically (rankings, evaluation-server submissions)."""
import json
import os
import os.path as osp
from typing import Any, Optional

__all__ = ['write_json_atomic']


def write_json_atomic(path: str, obj: Any, indent: Optional[int] = None) -> None:
    """Write ``obj`` as JSON to ``path`` through ``path + '.tmp'`` and ``os.replace``: a reader never sees a
    half-written file, and an interrupted run leaves the previous file intact."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = f'{path}.tmp'
    try:
        with open(tmp, 'w', encoding='utf-8') as f:
            json.dump(obj, f, indent=indent)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
