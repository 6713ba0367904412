"""CIRR test-server files and their validator (format: the page "Test-split Server on CIRR Dataset" of
Cuberick-Orion/CIRR).

The server takes one JSON object per metric: ``{"version": "rc2", "metric": "recall", "<pairid>": [50 image
names], ...}`` for Recall@K and the same with ``"metric": "recall_subset"`` and 3 names for Recall_subset@K,
each under 5 MB. The file names are those of the repository's example files (``demo_files/``).
"""
import os.path as osp
from typing import Dict, List, Optional, Tuple

from sdfn_plugin.registry import METRICS

from .base import SubmissionError, SubmissionMetric, check_file_size, load_json_file, write_json_atomic

__all__ = ['CIRRSubmission', 'validate_cirr_submission', 'CIRR_SUBMISSION_FILES', 'CIRR_MAX_BYTES']

#: metric name -> (file name, names per query); ``{split}`` is ``test1`` for the server (val gives a local check)
CIRR_SUBMISSION_FILES: Dict[str, Tuple[str, int]] = {
    'recall': ('{split}_pred_ranks_recall.json', 50),
    'recall_subset': ('{split}_pred_ranks_recall_subset.json', 3),
}
#: the server's upload limit ("Maximum 5MB"), taken as 5,000,000 bytes to be on the safe side
CIRR_MAX_BYTES = 5_000_000
_VERSION = 'rc2'
_HEADER = ('version', 'metric')


def _read_submission(path: str) -> dict:
    data = load_json_file(path, 'CIRR submission', unique_keys=True)
    if not isinstance(data, dict):
        raise SubmissionError(f'CIRR submission {path!r} must hold a JSON object, got {type(data).__name__}')
    return data


def validate_cirr_submission(path: str, captions_file: str, metric: str, split_file: Optional[str] = None) -> None:
    """Check a CIRR server file against the caption file it answers; raise :class:`SubmissionError`
    naming the file and the offending pairid or key.

    Checks: under :data:`CIRR_MAX_BYTES`; ``"version": "rc2"`` and ``"metric": metric``; exactly the
    pairids of ``captions_file`` (none missing, none unknown, none twice); per pairid a list of
    distinct image names of the expected length (50 for ``recall``, 3 for ``recall_subset``; with
    ``split_file``, at most the split's image count minus the reference), without the query's
    reference; ``recall_subset`` names are members of the query's ``img_set``; with ``split_file``,
    every name is an image of the split.
    """
    if metric not in CIRR_SUBMISSION_FILES:
        raise ValueError(f'validate_cirr_submission: metric must be one of {tuple(CIRR_SUBMISSION_FILES)}, '
                         f'got {metric!r}')
    check_file_size(path, CIRR_MAX_BYTES)
    data = _read_submission(path)
    where = f'CIRR submission {path!r}'
    for key, expected in (('version', _VERSION), ('metric', metric)):
        if data.get(key) != expected:
            raise SubmissionError(f'{where}: key {key!r} must be {expected!r}, got {data.get(key)!r}')
    captions = load_json_file(captions_file, 'CIRR caption file')
    if not isinstance(captions, list):
        raise SubmissionError(f'CIRR caption file {captions_file!r} must hold a JSON list')
    queries = {str(q['pairid']): q for q in captions}
    images = None
    if split_file is not None:
        split = load_json_file(split_file, 'CIRR split file')
        images = set(split)
    length = CIRR_SUBMISSION_FILES[metric][1]
    if images is not None and metric == 'recall':
        length = min(length, len(images) - 1)
    answered = [k for k in data if k not in _HEADER]
    unknown = [k for k in answered if k not in queries]
    if unknown:
        raise SubmissionError(f'{where}: pairid {unknown[0]!r} is not a query of {captions_file!r} '
                              f'({len(unknown)} unknown key(s))')
    missing = [k for k in queries if k not in data]
    if missing:
        raise SubmissionError(f'{where}: pairid {missing[0]} of {captions_file!r} has no prediction '
                              f'({len(missing)} of {len(queries)} missing); the server needs every pairid')
    for pid, names in ((k, data[k]) for k in answered):
        q = queries[pid]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise SubmissionError(f'{where}: pairid {pid} must map to a list of image names, got {names!r}')
        if len(names) != length:
            raise SubmissionError(f'{where}: pairid {pid} lists {len(names)} names, {metric!r} needs {length} '
                                  '(for recall: raise the model topk to at least 50)')
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise SubmissionError(f'{where}: pairid {pid} lists {dup!r} twice')
        if q['reference'] in names:
            raise SubmissionError(f'{where}: pairid {pid} lists its own reference {q["reference"]!r}')
        if metric == 'recall_subset':
            outside = [n for n in names if n not in q['img_set']['members']]
            if outside:
                raise SubmissionError(f'{where}: pairid {pid} recall_subset name {outside[0]!r} is not a member of '
                                      f'its img_set {q["img_set"]["members"]!r}')
        if images is not None:
            unknown_names = [n for n in names if n not in images]
            if unknown_names:
                raise SubmissionError(f'{where}: pairid {pid} lists {unknown_names[0]!r}, not an image of '
                                      f'{split_file!r}')


@METRICS.register_module()
class CIRRSubmission(SubmissionMetric):
    """Writes CIRR's two test-server files into ``out_dir`` and validates them (``tools/test.py
    --submission DIR`` adds it for :class:`~sdfn_plugin.datasets.CIRRDataset`).

    ``test1_pred_ranks_recall.json`` (``val_...`` on val, a local check): each pairid's top-50 gallery
    names (``pred_topk`` without the reference; the model's ``topk`` must be at least 50).
    ``test1_pred_ranks_recall_subset.json``: the top-3 of its subset ranking (``subset_idx``, the five other set members scored explicitly). Keys
    follow the dataset's query order after ``version`` and ``metric``, as in the official examples.
    Each file is written atomically, then checked by :func:`validate_cirr_submission` against the
    dataset's caption and split files (``ann_file``, ``split_file`` in its metainfo).
    """

    pred_fields = ('pred_topk', 'subset_idx')
    default_prefix: Optional[str] = 'cirr_submission'

    def write(self, results: List[dict], meta: dict) -> List[str]:
        version = meta.get('version', _VERSION)
        if version != _VERSION:
            raise SubmissionError(f'CIRRSubmission: the dataset is annotation version {version!r}; the server '
                                  f'takes {_VERSION!r}')
        paths = []
        for metric, field in (('recall', 'pred_topk'), ('recall_subset', 'subset_idx')):
            name, length = CIRR_SUBMISSION_FILES[metric]
            content = {'version': _VERSION, 'metric': metric}
            for r in results:
                content[str(r['query_id'])] = self.gallery_names(r[field], meta, r['ref_gallery_idx'])[:length]
            path = osp.join(self.out_dir, name.format(split=meta.get('split', 'test1')))
            write_json_atomic(path, content)
            paths.append(path)
        return paths

    def validate(self, paths: List[str], meta: dict) -> None:
        for path, metric in zip(paths, CIRR_SUBMISSION_FILES):
            validate_cirr_submission(path, meta['ann_file'], metric, meta.get('split_file'))
