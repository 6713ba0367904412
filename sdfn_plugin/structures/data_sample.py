"""Per-sample metadata travelling next to the tensors (mmpretrain's DataSample idea)."""
from typing import List, Optional, Sequence

from mmengine.structures import BaseDataElement


class CIRDataSample(BaseDataElement):
    """Metadata of one composed-retrieval query or one gallery image.

    Metainfo fields (set by :class:`~sdfn_plugin.datasets.transforms.PackCIRInputs`):

    * ``sample_idx`` (int): stable dataset index (SDFN's path memory is keyed on it).
    * ``ref_id`` / ``tgt_id`` (str): image identifiers of reference and target.
    * ``text`` (str): the modification text (kept for logs and visualisation).
    * ``gt_gallery_idx`` (list[int]): gallery indices that count as correct
      (several for CSS scenes or Fashion200K caption matches).
    * ``ref_gallery_idx`` (int): gallery index of the reference image, ``-1`` if
      it is not in the gallery; excluded from the ranking when the protocol says so.
    * ``category`` (str): dataset sub-split (FashionIQ category), ``''`` otherwise.

    Fields are plain metainfo (``sample.gt_gallery_idx``, ``sample.get('ref_gallery_idx', -1)``);
    no properties, because ``BaseDataElement`` sets metainfo through ``setattr``.
    """


def stack_sample_idx(samples: Optional[Sequence[CIRDataSample]]) -> List[int]:
    """The ``sample_idx`` of every sample, with a clear error when one is missing."""
    if samples is None:
        raise ValueError('data_samples are required here (they carry sample_idx)')
    out = []
    for i, s in enumerate(samples):
        if 'sample_idx' not in s:
            raise KeyError(f'data_samples[{i}] has no sample_idx; finish the pipeline with PackCIRInputs')
        out.append(int(s.metainfo['sample_idx']))
    return out
