"""A local web page for composed retrieval, on Python's standard ``http.server`` (no extra dependency).

Endpoints (JSON in and out):

* ``GET /``: the page (``demo_page.html``);
* ``GET /api/gallery?offset=0&limit=60``: gallery items ``{id, name, url}`` to pick a reference from;
* ``GET /image/<id>``: the gallery image of row ``id`` (only gallery rows are served, never a free path);
* ``POST /api/search``: ``{"text": "...", "topk": 10, "gallery_id": 3}`` or ``{"text": ..., "image":
  "data:image/png;base64,..."}`` (an upload) -> ``{"results": [{rank, id, name, score, url}]}``;
  bad input -> HTTP 400 ``{"error": "...", "field": "image" | "text" | "topk" | "gallery_id"}``.
"""
import base64
import io
import json
import mimetypes
import os.path as osp
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Optional, Tuple
from urllib.parse import parse_qs, urlparse

import numpy as np
from PIL import Image, UnidentifiedImageError

__all__ = ['DemoApp', 'make_server', 'InputError']

_PAGE = osp.join(osp.dirname(osp.abspath(__file__)), 'demo_page.html')
_MAX_UPLOAD = 20 * 2**20  # bytes of a request body
_MAX_TOPK = 100


class InputError(ValueError):
    """Bad user input; ``field`` names the form field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class DemoApp:
    """The page's logic around a :class:`~sdfn_plugin.apis.CIRInferencer` whose gallery is set.

    Queries run one at a time (one model, possibly on one GPU), under a lock.
    """

    def __init__(self, inferencer, default_topk: int = 10) -> None:
        if inferencer.index is None:
            raise ValueError('the demo needs an inferencer with a gallery (gallery=... or set_gallery)')
        self.inferencer = inferencer
        self.default_topk = default_topk
        self._lock = threading.Lock()

    @property
    def keys(self):
        return self.inferencer.index.keys

    def item(self, row: int, score: Optional[float] = None, rank: Optional[int] = None) -> Dict[str, Any]:
        out: Dict[str, Any] = {'id': row, 'name': osp.basename(self.keys[row]), 'url': f'/image/{row}'}
        if score is not None:
            out.update(score=round(float(score), 4), rank=rank)
        return out

    def gallery(self, offset: int, limit: int) -> Dict[str, Any]:
        rows = range(max(0, offset), min(len(self.keys), max(0, offset) + max(0, min(limit, 500))))
        return {'total': len(self.keys), 'items': [self.item(r) for r in rows]}

    def _reference(self, body: Dict[str, Any]) -> Tuple[Any, Optional[int]]:
        """The reference image (a path or an array) and its gallery row when picked."""
        if body.get('gallery_id') is not None:
            row = body['gallery_id']
            if not isinstance(row, int) or not 0 <= row < len(self.keys):
                raise InputError('gallery_id',
                                 f'gallery_id must be a gallery row in [0, {len(self.keys)}), got {row!r}')
            return self.keys[row], row
        data = body.get('image')
        if not isinstance(data, str) or not data:
            raise InputError('image', 'no reference image: upload an image or pick one from the gallery')
        payload = data.split(',', 1)[1] if data.startswith('data:') else data
        try:
            raw = base64.b64decode(payload, validate=True)
            with Image.open(io.BytesIO(raw)) as im:
                return np.asarray(im.convert('RGB')), None
        except (ValueError, UnidentifiedImageError, OSError) as err:
            name = body.get('filename') or 'the upload'
            raise InputError('image', f'{name} is not an image that can be decoded ({type(err).__name__}); '
                                      'upload a PNG, JPEG, WebP, GIF or BMP file') from None

    def search(self, body: Dict[str, Any]) -> Dict[str, Any]:
        text = body.get('text')
        if not isinstance(text, str) or not text.strip():
            raise InputError('text', 'the modification text is empty: type how the reference should change')
        topk = body.get('topk', self.default_topk)
        if not isinstance(topk, int) or not 1 <= topk <= _MAX_TOPK:
            raise InputError('topk', f'topk must be an integer in [1, {_MAX_TOPK}], got {topk!r}')
        image, _ = self._reference(body)
        with self._lock:
            pred = self.inferencer((image, text), topk=topk)['predictions'][0]
        return {'text': text, 'results': [self.item(row, score, rank + 1)
                                          for rank, (row, score) in enumerate(zip(pred['indices'], pred['scores']))]}


def _handler(app: DemoApp) -> type:
    class Handler(BaseHTTPRequestHandler):
        server_version = 'sdfn-demo'

        def log_message(self, fmt: str, *args: Any) -> None:  # quiet: one line per request is noise here
            pass

        def _send(self, status: int, body: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header('Content-Type', ctype)
            self.send_header('Content-Length', str(len(body)))
            self.send_header('Cache-Control', 'no-store')
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, obj: Dict[str, Any]) -> None:
            self._send(status, json.dumps(obj).encode(), 'application/json')

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            url = urlparse(self.path)
            if url.path in ('/', '/index.html'):
                with open(_PAGE, 'rb') as f:
                    return self._send(HTTPStatus.OK, f.read(), 'text/html; charset=utf-8')
            if url.path == '/api/gallery':
                q = parse_qs(url.query)
                try:
                    offset, limit = int(q.get('offset', ['0'])[0]), int(q.get('limit', ['60'])[0])
                except ValueError:
                    return self._json(HTTPStatus.BAD_REQUEST, {'error': 'offset and limit must be integers',
                                                               'field': 'offset'})
                return self._json(HTTPStatus.OK, app.gallery(offset, limit))
            if url.path.startswith('/image/'):
                row = url.path[len('/image/'):]
                if not row.isdigit() or int(row) >= len(app.keys) or not osp.isfile(app.keys[int(row)]):
                    return self._json(HTTPStatus.NOT_FOUND, {'error': f'no gallery image {row!r}'})
                path = app.keys[int(row)]
                with open(path, 'rb') as f:
                    return self._send(HTTPStatus.OK, f.read(), mimetypes.guess_type(path)[0] or 'image/png')
            self._json(HTTPStatus.NOT_FOUND, {'error': f'no page {url.path!r}'})

        def do_POST(self) -> None:  # noqa: N802
            if urlparse(self.path).path != '/api/search':
                return self._json(HTTPStatus.NOT_FOUND, {'error': f'no endpoint {self.path!r}'})
            length = int(self.headers.get('Content-Length') or 0)
            if length > _MAX_UPLOAD:
                return self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                                  {'error': f'request over {_MAX_UPLOAD // 2**20} MiB', 'field': 'image'})
            try:
                body = json.loads(self.rfile.read(length) or b'{}')
                if not isinstance(body, dict):
                    raise InputError('body', 'the request body must be a JSON object')
                return self._json(HTTPStatus.OK, app.search(body))
            except json.JSONDecodeError as err:
                return self._json(HTTPStatus.BAD_REQUEST, {'error': f'invalid JSON: {err}', 'field': 'body'})
            except InputError as err:
                return self._json(HTTPStatus.BAD_REQUEST, {'error': str(err), 'field': err.field})
            except (OSError, ValueError) as err:  # e.g. an unreadable gallery file picked as reference
                return self._json(HTTPStatus.BAD_REQUEST, {'error': str(err), 'field': 'image'})

    return Handler


def make_server(app: DemoApp, host: str = '127.0.0.1', port: int = 7860) -> ThreadingHTTPServer:
    """A threading HTTP server for ``app`` (port 0: a free port; see ``server.server_address``)."""
    server = ThreadingHTTPServer((host, port), _handler(app))
    server.daemon_threads = True
    return server
