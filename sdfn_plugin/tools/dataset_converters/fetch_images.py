"""Download the images of a dataset published as ``<name> <url>`` lists (``tools/dataset_converters/fetch_images.py``).

Usage::

    # any list of "<name> <url>" lines (FashionIQ's asin2url.<category>.txt files have this form)
    python tools/dataset_converters/fetch_images.py LIST [LIST ...] --out DIR [--ext .jpg]
    # FashionIQ preset: LISTS_DIR/asin2url.{dress,shirt,toptee}.txt -> the layout FashionIQDataset expects
    python tools/dataset_converters/fetch_images.py --preset fashioniq LISTS_DIR --data-root data/fashioniq
        [--image-layout flat|per_category]

Each image is saved as ``<name><ext>`` (``--ext``; default ``.jpg``). Downloads
run in ``--workers`` threads, each request with ``--timeout`` seconds; a timeout,
a connection error, a truncated body or a 5xx/408/429 answer is retried
``--retries`` times with exponential back-off (``--backoff`` x 2^attempt
seconds); other 4xx answers (404: dead link) are final. Every body is written to
a hidden ``.<name>.part`` file in the target folder, checked to decode as an
image (PIL ``verify`` then a full ``load``) and only then renamed to its final
name (``os.replace``): a file under a final name is always a whole image, even
after a crash or Ctrl-C, and leftover ``.part`` files are removed by the next
run. Resume: names whose final file exists are not fetched again.

The run ends with a report (downloaded / already present / failed / not an
image) and writes the names still missing, one ``<name>\\t<reason>`` line each,
to ``--missing-out`` (default ``<out>/missing.txt``; the preset writes
``<data-root>/missing_images.txt``). The FashionIQ, Shoes and triplet loaders
accept that file as ``skip_missing='missing_images.txt'`` (relative to
``data_root``): exactly those images may be absent, and the log states how many
queries and gallery images each protocol lost. Exit status 1 if anything is missing.
"""
import argparse
import http.client
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

__all__ = ['FetchTask', 'FetchReport', 'parse_url_list', 'fashioniq_tasks', 'fetch_all', 'main']

FASHIONIQ_CATEGORIES = ('dress', 'shirt', 'toptee')
_RETRY_STATUS = (408, 429)
_USER_AGENT = 'sdfn_plugin-fetch-images/1.0'


@dataclass(frozen=True)
class FetchTask:
    name: str
    url: str
    dest: str


@dataclass
class FetchReport:
    """Outcome of one run: counts and ``{name: reason}`` of what is still missing."""
    listed: int = 0
    downloaded: int = 0
    present: int = 0
    failed: int = 0
    not_image: int = 0
    missing: Dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        return (f'{self.listed} listed: {self.downloaded} downloaded, {self.present} already present, '
                f'{self.failed} failed, {self.not_image} not an image -> {len(self.missing)} missing')


def parse_url_list(path: str) -> List[Tuple[str, str]]:
    """``(name, url)`` per non-empty line ``<name> <url>`` (whitespace-separated) of a UTF-8 file.

    A name given twice with the same URL is kept once; with two different URLs
    it is an error (which file would win is not knowable).
    """
    from sdfn_plugin.datasets.data_checks import read_text
    seen: Dict[str, str] = {}
    for lineno, line in enumerate(read_text(path, 'fetch_images').split('\n'), 1):
        if not line.strip() or line.lstrip().startswith('#'):
            continue
        fields = line.split()
        if len(fields) != 2 or '://' not in fields[1]:
            raise ValueError(f'{path!r} line {lineno}: expected "<name> <url>", got {line.strip()!r}')
        name, url = fields
        if '/' in name or '\\' in name or name in ('.', '..'):
            raise ValueError(f'{path!r} line {lineno}: the name {name!r} must be a plain file name')
        if seen.get(name, url) != url:
            raise ValueError(f'{path!r} line {lineno}: {name!r} is listed with two URLs ({seen[name]!r}, {url!r})')
        seen[name] = url
    return list(seen.items())


def tasks_from_lists(paths: Sequence[str], out: str, ext: str) -> List[FetchTask]:
    tasks: Dict[str, FetchTask] = {}
    for path in paths:
        for name, url in parse_url_list(path):
            task = FetchTask(name, url, os.path.join(out, name + ext))
            if tasks.get(name, task).url != url:
                raise ValueError(f'{name!r} is listed with two URLs ({tasks[name].url!r}, {url!r}); last in {path!r}')
            tasks[name] = task
    return list(tasks.values())


def fashioniq_tasks(lists_dir: str, data_root: str, image_layout: str = 'flat',
                    categories: Sequence[str] = FASHIONIQ_CATEGORIES, ext: str = '.jpg') -> List[FetchTask]:
    """Tasks of ``lists_dir/asin2url.<category>.txt``, saved where ``FashionIQDataset`` looks:
    ``images/<ASIN>.jpg`` (``image_layout='flat'``) or ``img/<category>/<ASIN>.jpg`` (``'per_category'``)."""
    if image_layout not in ('flat', 'per_category'):
        raise ValueError(f"image_layout must be 'flat' or 'per_category', got {image_layout!r}")
    tasks: List[FetchTask] = []
    for cat in categories:
        path = os.path.join(lists_dir, f'asin2url.{cat}.txt')
        if not os.path.isfile(path):
            raise FileNotFoundError(f'FashionIQ preset: {path!r} not found (the start kit\'s asin2url.<category>.txt)')
        folder = os.path.join(data_root, 'images') if image_layout == 'flat' else \
            os.path.join(data_root, 'img', cat)
        tasks.extend(FetchTask(n, u, os.path.join(folder, n + ext)) for n, u in parse_url_list(path))
    if image_layout == 'flat':  # one folder: an ASIN of two categories is fetched once
        tasks = list({t.dest: t for t in tasks}.values())
    return tasks


class _Retry(Exception):
    pass


def _get(url: str, timeout: float) -> bytes:
    request = urllib.request.Request(url, headers={'User-Agent': _USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
            expected = response.headers.get('Content-Length')
    except urllib.error.HTTPError as err:
        if err.code >= 500 or err.code in _RETRY_STATUS:
            raise _Retry(f'HTTP {err.code}') from None
        raise  # final: 404 and the other client errors
    except http.client.IncompleteRead as err:
        raise _Retry(f'truncated body ({len(err.partial)} bytes)') from None
    except (urllib.error.URLError, OSError) as err:  # timeouts, refused/reset connections
        raise _Retry(f'{type(err).__name__}: {getattr(err, "reason", err)}') from None
    if expected is not None and expected.isdigit() and int(expected) != len(body):
        raise _Retry(f'truncated body ({len(body)} of {expected} bytes)')
    return body


def fetch_one(task: FetchTask, timeout: float = 10.0, retries: int = 3, backoff: float = 0.5,
              stop: Optional[threading.Event] = None) -> Tuple[str, str]:
    """Download one image atomically; ``('downloaded', '')``, ``('failed', reason)`` or ``('not_image', reason)``.

    ``stop`` (set when the run is interrupted) ends the retries early.
    """
    from sdfn_plugin.datasets.data_checks import image_problem
    folder = os.path.dirname(task.dest) or '.'
    os.makedirs(folder, exist_ok=True)
    part = os.path.join(folder, f'.{os.path.basename(task.dest)}.part')
    reason = ''
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        if stop is not None and stop.is_set():
            return 'failed', 'interrupted'
        try:
            body = _get(task.url, timeout)
        except _Retry as err:
            reason = str(err)
            continue
        except urllib.error.HTTPError as err:
            return 'failed', f'HTTP {err.code}'
        except ValueError as err:  # malformed URL
            return 'failed', str(err)
        try:
            with open(part, 'wb') as f:
                f.write(body)
            problem = image_problem(part)
            if problem is None:
                os.replace(part, task.dest)
                return 'downloaded', ''
        finally:
            if os.path.exists(part):
                os.remove(part)
        reason = f'{problem} ({len(body)} bytes)'
        if problem != 'truncated/corrupt':  # an HTML page or an empty body will not change on a retry
            return 'not_image', reason
    return ('not_image' if reason.startswith('truncated/corrupt') else 'failed'), reason


def _remove_stale_parts(folders: Sequence[str]) -> int:
    removed = 0
    for folder in folders:
        if os.path.isdir(folder):
            for entry in os.listdir(folder):
                if entry.startswith('.') and entry.endswith('.part'):
                    os.remove(os.path.join(folder, entry))
                    removed += 1
    return removed


def fetch_all(tasks: Sequence[FetchTask], workers: int = 8, timeout: float = 10.0, retries: int = 3,
              backoff: float = 0.5, missing_out: Optional[str] = None, progress: bool = True) -> FetchReport:
    """Fetch every task whose destination does not exist yet; write ``missing_out``; return the report."""
    report = FetchReport(listed=len(tasks))
    stale = _remove_stale_parts(sorted({os.path.dirname(t.dest) or '.' for t in tasks}))
    if stale and progress:
        print(f'removed {stale} partial download(s) of an interrupted run')
    todo = [t for t in tasks if not os.path.isfile(t.dest)]
    report.present = len(tasks) - len(todo)
    done = 0
    stop = threading.Event()
    pool = ThreadPoolExecutor(max(1, workers))
    try:
        futures = {pool.submit(fetch_one, t, timeout, retries, backoff, stop): t for t in todo}
        for future in as_completed(futures):
            task = futures[future]
            status, reason = future.result()
            if status == 'downloaded':
                report.downloaded += 1
            else:
                report.missing[task.name] = reason
                report.failed += status == 'failed'
                report.not_image += status == 'not_image'
            done += 1
            if progress and (done % 100 == 0 or done == len(todo)):
                print(f'\r{done}/{len(todo)} fetched', end='' if done < len(todo) else '\n', flush=True)
    except BaseException:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)  # running downloads finish or clean their .part file
        raise
    pool.shutdown(wait=True)
    if missing_out is not None:
        os.makedirs(os.path.dirname(missing_out) or '.', exist_ok=True)
        tmp = missing_out + '.part'
        with open(tmp, 'w', encoding='utf-8') as f:
            f.writelines(f'{name}\t{reason}\n' for name, reason in sorted(report.missing.items()))
        os.replace(tmp, missing_out)
    return report


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Download images listed as "<name> <url>" lines')
    parser.add_argument('lists', nargs='+', help='list files, or the folder of asin2url.<category>.txt with --preset')
    parser.add_argument('--preset', choices=['fashioniq'], help='write the layout of a dataset loader')
    parser.add_argument('--out', help='output folder (without --preset)')
    parser.add_argument('--data-root', help='dataset folder (with --preset)')
    parser.add_argument('--image-layout', default='flat', choices=['flat', 'per_category'],
                        help='FashionIQ layout: images/<ASIN>.jpg or img/<category>/<ASIN>.jpg')
    parser.add_argument('--ext', default='.jpg', help='file suffix appended to each name')
    parser.add_argument('--workers', type=int, default=16, help='concurrent downloads')
    parser.add_argument('--timeout', type=float, default=10.0, help='seconds per request')
    parser.add_argument('--retries', type=int, default=3, help='retries of a timed-out/truncated/5xx download')
    parser.add_argument('--backoff', type=float, default=1.0, help='first retry delay (doubles each retry)')
    parser.add_argument('--missing-out', help='file listing the missing names')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.preset == 'fashioniq':
        if len(args.lists) != 1 or not args.data_root:
            raise SystemExit('--preset fashioniq takes one folder (of asin2url.<category>.txt) and --data-root')
        tasks = fashioniq_tasks(args.lists[0], args.data_root, args.image_layout, ext=args.ext)
        missing_out = args.missing_out or os.path.join(args.data_root, 'missing_images.txt')
    else:
        if not args.out:
            raise SystemExit('give --out (or --preset fashioniq with --data-root)')
        tasks = tasks_from_lists(args.lists, args.out, args.ext)
        missing_out = args.missing_out or os.path.join(args.out, 'missing.txt')
    try:
        report = fetch_all(tasks, args.workers, args.timeout, args.retries, args.backoff, missing_out)
    except KeyboardInterrupt:
        print('interrupted: no partial file was left under a final name; run the same command again to resume',
              file=sys.stderr)
        return 130
    print(report.summary())
    if report.missing:
        print(f'missing names written to {missing_out}')
    return 1 if report.missing else 0


if __name__ == '__main__':
    raise SystemExit(main())
