"""The built-in synthetic CSS-style benchmark as an mmengine dataset."""
import os
from collections import defaultdict
from typing import List, Optional

from mmengine.dist import barrier, get_dist_info

from sdfn_plugin.registry import DATASETS

from .base_cir_dataset import BaseCIRDataset, PipelineCfg

_SPLITS = ('train', 'test')


@DATASETS.register_module()
class CSSDataset(BaseCIRDataset):
    """Synthetic scenes of 1-5 coloured shapes on a 3x3 grid, in the spirit of the
    CSS dataset of Vo et al. (CVPR 2019). Generated deterministically from
    ``seed`` into ``data_root`` on first use (rank 0 only; other ranks wait),
    then reused.

    Test protocol: each test reference carries one query per modification kind
    (``test_mods_per_ref=3``), so its nearest neighbours are sibling targets and
    only the text tells them apart; the gallery is every test image; a gallery image is correct
    when it depicts the target's scene (several can be); the query's own
    reference image is excluded from its ranking (model ``exclude_reference``).

    Args:
        data_root: folder that receives the generated dataset.
        split: ``'train'`` or ``'test'``.
        seed, num_train, num_test, image_size, test_mods_per_ref: generation
            parameters of :class:`~sdfn_plugin.datasets.css.CSSGenerationConfig`
            (the generated folder name encodes them, so changing one never
            reuses a stale copy).
    """

    def __init__(self, data_root: str, split: str = 'train', pipeline: PipelineCfg = (),
                 gallery_pipeline: Optional[PipelineCfg] = None, seed: int = 0, num_train: int = 10000,
                 num_test: int = 2000, image_size: int = 64, test_mods_per_ref: int = 3,
                 test_mode: bool = False,
                 lazy_init: bool = False) -> None:
        if split not in _SPLITS:
            raise ValueError(f'CSSDataset.split must be one of {_SPLITS}, got {split!r}')
        from .css import CSSGenerationConfig
        self.gen_cfg = CSSGenerationConfig(seed=seed, num_train=num_train, num_test=num_test,
                                           image_size=image_size, test_mods_per_ref=test_mods_per_ref)
        super().__init__(data_root=data_root, split=split, pipeline=pipeline,
                         gallery_pipeline=gallery_pipeline, test_mode=test_mode, lazy_init=lazy_init)

    def protocol_details(self) -> List[str]:
        return [f'generated seed={self.gen_cfg.seed}', f'test_mods_per_ref={self.gen_cfg.test_mods_per_ref}',
                'correct = same scene as the target']

    def _annotation_file(self) -> str:
        from .css import ensure_css
        if not self.data_root:
            raise ValueError('CSSDataset.data_root is empty: give a folder to generate the benchmark into')
        rank, world = get_dist_info()
        if rank == 0:
            path = ensure_css(self.data_root, self.gen_cfg)
        if world > 1:
            barrier()
        if rank != 0:
            path = ensure_css(self.data_root, self.gen_cfg, progress=False)  # cache hit
        return path

    def load_queries(self) -> List[dict]:
        from .css import load_css_annotations
        ann_file = self._annotation_file()
        folder = os.path.dirname(ann_file)
        split = load_css_annotations(ann_file)[self.split]
        images = {im['id']: im for im in split['images']}
        if self.split == 'test':
            self.gallery = [{'img_path': os.path.join(folder, im['file']), 'img_id': im['id']}
                            for im in split['images']]
            index = {im['id']: i for i, im in enumerate(split['images'])}
            by_scene = defaultdict(list)
            for i, im in enumerate(split['images']):
                by_scene[im['scene']].append(i)
        queries = []
        for q in split['queries']:
            ref, tgt = images[q['ref']], images[q['tgt']]
            item = dict(ref_id=q['ref'], tgt_id=q['tgt'], text=q['text'],
                        ref_path=os.path.join(folder, ref['file']), tgt_path=os.path.join(folder, tgt['file']),
                        category='')
            if self.split == 'test':
                item['gt_gallery_idx'] = by_scene[tgt['scene']]
                item['ref_gallery_idx'] = index[q['ref']]
            queries.append(item)
        return queries
