"""fetch_images against a local HTTP server on 127.0.0.1 (started and stopped here): generated JPEGs, 404s,
a response slower than the timeout, truncated bodies, an HTML page, a flaky 503; resume; interruption."""
import http.server
import io
import os
import signal
import threading
import time

import pytest
from PIL import Image

from sdfn_plugin.testing.placeholders import placeholder_jpeg
from sdfn_plugin.tools.dataset_converters.fetch_images import (FetchTask, fashioniq_tasks, fetch_all, main,
                                                               parse_url_list)

JPEG = {f'ok{i}': placeholder_jpeg(16, (40 * i, 10, 200 - 30 * i)) for i in range(5)}


def _noise_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.effect_noise((64, 64), 64).convert('RGB').save(buf, 'JPEG', quality=95)
    return buf.getvalue()


BIG = _noise_jpeg()  # a cut in its first two thirds falls inside the scan data


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(('127.0.0.1', 0), _Handler)
        self.requests = []
        self.flaky_seen = 0
        self.revived = set()  # 404 paths that answer from now on
        self.hang_started, self.hang_release = threading.Event(), threading.Event()


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass

    def _send(self, body: bytes, ctype='image/jpeg', length=None):
        self.send_response(200)
        self.send_header('Content-Type', ctype)
        if length is not False:
            self.send_header('Content-Length', str(len(body) if length is None else length))
        self.end_headers()

    def do_GET(self):
        srv, path = self.server, self.path.strip('/')
        srv.requests.append(path)
        try:
            if path in JPEG:
                self._send(JPEG[path])
                self.wfile.write(JPEG[path])
            elif path.startswith('gone') and path not in srv.revived:
                self.send_error(404)
            elif path.startswith('gone'):
                self._send(JPEG['ok0'])
                self.wfile.write(JPEG['ok0'])
            elif path == 'slow':  # slower than the client's timeout on every attempt
                time.sleep(1.0)
                self._send(JPEG['ok0'])
                self.wfile.write(JPEG['ok0'])
            elif path == 'truncated':  # announces the full length, sends half
                self._send(BIG, length=len(BIG))
                self.wfile.write(BIG[:len(BIG) // 2])
                self.close_connection = True
            elif path == 'cut':  # no length; the JPEG stops in its scan data
                self._send(b'', length=False)
                self.wfile.write(BIG[:len(BIG) // 3])
                self.close_connection = True
            elif path == 'html':  # a dead link's error page with status 200
                body = b'<html><body>Page not found</body></html>'
                self._send(body, ctype='text/html')
                self.wfile.write(body)
            elif path == 'flaky':  # 503 once, then the image
                srv.flaky_seen += 1
                if srv.flaky_seen == 1:
                    self.send_error(503)
                else:
                    self._send(JPEG['ok1'])
                    self.wfile.write(JPEG['ok1'])
            elif path == 'hang':  # half the body, then waits until the test has interrupted the run
                self._send(BIG, length=len(BIG))
                self.wfile.write(BIG[:len(BIG) // 2])
                self.wfile.flush()
                srv.hang_started.set()
                srv.hang_release.wait(10)
                self.close_connection = True
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture
def server():
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.hang_release.set()
        srv.shutdown()
        srv.server_close()
        thread.join(5)


NAMES = ['ok0', 'ok1', 'ok2', 'ok3', 'ok4', 'gone1', 'gone2', 'slow', 'truncated', 'cut', 'html', 'flaky']


def _write_list(path, server, names):
    base = f'http://127.0.0.1:{server.server_address[1]}'
    with open(path, 'w') as f:
        f.writelines(f'{n}\t{base}/{n}\n' for n in names)


def _decodes(path):
    with Image.open(path) as im:
        im.load()


def test_fetch_counts_resume_and_missing_list(server, tmp_path, capsys):
    lst, out = tmp_path / 'asin2url.test.txt', tmp_path / 'images'
    _write_list(lst, server, NAMES)
    argv = [str(lst), '--out', str(out), '--workers', '4', '--timeout', '0.4', '--retries', '1', '--backoff', '0.01']
    assert main(argv) == 1
    printed = capsys.readouterr().out
    assert '12 listed: 6 downloaded, 0 already present, 4 failed, 2 not an image -> 6 missing' in printed
    got = sorted(os.listdir(out))
    assert got == sorted([f'{n}.jpg' for n in ('ok0', 'ok1', 'ok2', 'ok3', 'ok4', 'flaky')] + ['missing.txt'])
    for n in ('ok0', 'ok3'):
        assert (out / f'{n}.jpg').read_bytes() == JPEG[n]
    _decodes(out / 'flaky.jpg')
    missing = dict(line.split('\t') for line in (out / 'missing.txt').read_text().splitlines())
    assert missing == {'gone1': 'HTTP 404', 'gone2': 'HTTP 404', 'slow': missing['slow'],
                       'truncated': f'truncated body ({len(BIG) // 2} bytes)', 'cut': missing['cut'],
                       'html': 'not an image (40 bytes)'}
    assert 'timeout' in missing['slow'].lower() and missing['cut'].startswith('truncated/corrupt')
    # 2 attempts each for slow / truncated / cut and flaky's retry; one for the rest
    assert sorted(server.requests) == sorted(NAMES + ['slow', 'truncated', 'cut', 'flaky'])

    # second run: only the 6 missing names are requested; gone1 came back meanwhile
    server.requests.clear()
    server.revived.add('gone1')
    report = fetch_all(parse_tasks(lst, out), workers=4, timeout=0.4, retries=0, backoff=0.01,
                       missing_out=str(out / 'missing.txt'), progress=False)
    assert sorted(server.requests) == sorted(['gone1', 'gone2', 'slow', 'truncated', 'cut', 'html'])
    assert (report.listed, report.downloaded, report.present, report.failed, report.not_image) == (12, 1, 6, 3, 2)
    assert sorted(report.missing) == ['cut', 'gone2', 'html', 'slow', 'truncated']
    assert [ln.split('\t')[0] for ln in (out / 'missing.txt').read_text().splitlines()] == sorted(report.missing)


def parse_tasks(lst, out):
    return [FetchTask(n, u, os.path.join(out, n + '.jpg')) for n, u in parse_url_list(str(lst))]


def test_interrupted_run_leaves_no_partial_file(server, tmp_path):
    lst, out = tmp_path / 'list.txt', tmp_path / 'images'
    _write_list(lst, server, ['ok0', 'hang'])
    os.makedirs(out)
    (out / '.stale.jpg.part').write_bytes(b'half')  # left by a run killed earlier

    def interrupt():
        server.hang_started.wait(10)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)
        server.hang_release.set()

    # a real Ctrl-C: pytest-xdist workers ignore SIGINT (only the controller reacts to it), so the test
    # restores Python's default handler while the fetch runs
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        threading.Thread(target=interrupt, daemon=True).start()
        with pytest.raises(KeyboardInterrupt):
            fetch_all(parse_tasks(lst, out), workers=2, timeout=5, retries=3, backoff=0.01, progress=False)
    finally:
        signal.signal(signal.SIGINT, previous)
    left = sorted(os.listdir(out))
    assert 'hang.jpg' not in left and not [f for f in left if f.endswith('.part')]
    for f in left:
        _decodes(out / f)
    # resume: only the interrupted name is fetched again
    server.requests.clear()
    report = fetch_all(parse_tasks(lst, out), workers=2, timeout=0.3, retries=0, progress=False)
    assert server.requests == ['hang'] and report.present == left.count('ok0.jpg')


def test_list_errors_and_fashioniq_preset(tmp_path):
    bad = tmp_path / 'bad.txt'
    bad.write_text('B000A1\thttp://h/a.jpg\nB000A2 not-a-url\n')
    with pytest.raises(ValueError, match=r"line 2: expected \"<name> <url>\", got 'B000A2 not-a-url'"):
        parse_url_list(str(bad))
    bad.write_text('B000A1 http://h/a.jpg\nB000A1 http://h/b.jpg\n')
    with pytest.raises(ValueError, match="line 2: 'B000A1' is listed with two URLs"):
        parse_url_list(str(bad))
    bad.write_bytes(b'B000A1 http://h/\xe9.jpg\n')
    with pytest.raises(ValueError, match=r"is not UTF-8 text: byte 16 \(0xe9\)"):
        parse_url_list(str(bad))
    lists = tmp_path / 'lists'
    lists.mkdir()
    for cat, names in (('dress', 'AB'), ('shirt', 'BC'), ('toptee', 'D')):
        (lists / f'asin2url.{cat}.txt').write_text(''.join(f'{n} http://h/{n}.jpg\n' for n in names))
    flat = fashioniq_tasks(str(lists), 'root')
    assert sorted(t.dest for t in flat) == [os.path.join('root', 'images', f'{n}.jpg') for n in 'ABCD']
    per = fashioniq_tasks(str(lists), 'root', 'per_category')
    assert [t.dest for t in per if t.name == 'B'] == [os.path.join('root', 'img', c, 'B.jpg') for c in ('dress', 'shirt')]
