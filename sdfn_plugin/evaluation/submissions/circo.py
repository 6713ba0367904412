"""CIRCO's evaluation-server file: ``{"<query id>": [50 COCO image ids]}`` for every query of the split.

Format and rules from the official repository (miccunifi/CIRCO README "Submission Format",
``submission_examples/submission_test.json``, ``src/evaluation.py``): one key per query id (all of
them, as strings; the example has keys ``"0"`` ... ``"799"``), each value the top 50 COCO image ids
(JSON ints), best first, without duplicates.
"""
import os.path as osp
from typing import Iterable, List, Optional

from sdfn_plugin.registry import METRICS

from .base import SubmissionError, SubmissionMetric, load_json_file, write_json_atomic

__all__ = ['CIRCOSubmission', 'validate_circo_submission', 'CIRCO_TOPK']

#: ranked ids per query the server takes
CIRCO_TOPK = 50


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_circo_submission(path: str, annotation_file: str, gallery_ids: Optional[Iterable[int]] = None) -> int:
    """Check a CIRCO submission against the annotation file its queries come from; returns the query count.

    Rules: a JSON object whose keys are exactly the query ids of ``annotation_file`` (as strings:
    none missing, none extra); each value a list of exactly 50 distinct int COCO ids that does
    not contain the query's reference image; with ``gallery_ids``, every id is a gallery image.
    Each violation raises :class:`SubmissionError` naming the file and the query id.
    """
    from sdfn_plugin.datasets.data_checks import load_json_list, require_keys
    queries = load_json_list(annotation_file, 'CIRCO annotation file')
    reference = {}
    for i, q in enumerate(queries):
        require_keys(q, ('id', 'reference_img_id'), annotation_file, i)
        reference[str(q['id'])] = q['reference_img_id']
    sub = load_json_file(path, 'CIRCO submission', unique_keys=True)
    if not isinstance(sub, dict):
        raise SubmissionError(f'CIRCO submission {path!r} must be a JSON object {{"<query id>": [50 COCO ids]}}, '
                              f'got a {type(sub).__name__}')
    missing = [k for k in reference if k not in sub]
    if missing:
        raise SubmissionError(f'CIRCO submission {path!r}: {len(missing)} of the {len(reference)} query ids of '
                              f'{annotation_file!r} are missing, first: {missing[:5]}')
    extra = [k for k in sub if k not in reference]
    if extra:
        raise SubmissionError(f'CIRCO submission {path!r}: {len(extra)} key(s) are not query ids of '
                              f'{annotation_file!r}, first: {extra[:5]}')
    gallery = set(gallery_ids) if gallery_ids is not None else None
    for key, ranked in sub.items():
        where = f'CIRCO submission {path!r}, query {key}'
        if not isinstance(ranked, list) or len(ranked) != CIRCO_TOPK:
            got = f'{len(ranked)} entries' if isinstance(ranked, list) else type(ranked).__name__
            raise SubmissionError(f'{where}: expected a list of {CIRCO_TOPK} COCO image ids, got {got}')
        bad = [v for v in ranked if not _is_int(v) or v < 0]
        if bad:
            raise SubmissionError(f'{where}: COCO image ids must be non-negative JSON ints, got {bad[0]!r}')
        if len(set(ranked)) != len(ranked):
            twice = next(v for i, v in enumerate(ranked) if v in ranked[:i])
            raise SubmissionError(f'{where}: image {twice} is ranked twice (duplicates are invalid)')
        if reference[key] in ranked:
            raise SubmissionError(f'{where}: ranks its own reference image {reference[key]} (at position '
                                  f'{ranked.index(reference[key]) + 1}); it is excluded from its ranking')
        if gallery is not None:
            outside = [v for v in ranked if v not in gallery]
            if outside:
                raise SubmissionError(f'{where}: image {outside[0]} is not in the COCO 2017 unlabeled gallery')
    return len(sub)


@METRICS.register_module()
class CIRCOSubmission(SubmissionMetric):
    """Writes ``<out_dir>/circo_<split>.json`` (``{"<query id>": [50 COCO ids]}``) and validates it.

    The split is the annotation file's name (``annotations/test.json`` -> ``circo_test.json``); a
    ``val`` file is also accepted by the official ``src/evaluation.py``. Needs ``model.topk >= 50``
    (the shipped CLIP configs use 50): a shorter ranking is an error naming the query.
    """

    default_prefix: Optional[str] = 'circo_submission'  # names nothing (no metric); silences mmengine's warning
    # one more than the server takes: a gallery smaller than model.topk ranks the excluded reference last
    pred_lengths = {'pred_topk': CIRCO_TOPK + 1}

    def write(self, results: List[dict], meta: dict) -> List[str]:
        sub = {}
        for r in results:
            ids = self.gallery_names(r['pred_topk'], meta, r['ref_gallery_idx'])[:CIRCO_TOPK]
            if len(ids) < CIRCO_TOPK:
                raise SubmissionError(f'CIRCOSubmission: query {r["query_id"]} has {len(ids)} ranked images; the '
                                      f'server takes {CIRCO_TOPK} (set model.topk >= {CIRCO_TOPK})')
            sub[str(r['query_id'])] = [int(v) for v in ids]
        split = osp.splitext(osp.basename(meta['ann_file']))[0]
        path = osp.join(self.out_dir, f'circo_{split}.json')
        write_json_atomic(path, sub)
        return [path]

    def validate(self, paths: List[str], meta: dict) -> None:
        validate_circo_submission(paths[0], meta['ann_file'], meta['gallery_ids'])
