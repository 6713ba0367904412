"""Plain images (a folder or a list of paths) for encoding a gallery index."""
import os
import os.path as osp
from typing import List, Optional, Sequence, Union

from mmengine.dataset import BaseDataset
from mmengine.logging import MMLogger

from sdfn_plugin.registry import DATASETS

from .base_cir_dataset import PipelineCfg

__all__ = ['ImageListDataset', 'EmptyImageFolderError', 'ImageDecodeError', 'IMAGE_EXTENSIONS', 'BAD_IMAGE_KEY']

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.gif', '.tif', '.tiff')
#: the pipeline of a gallery image in the shipped configs (a model's test-time gallery pipeline)
DEFAULT_PIPELINE = [dict(type='sdfn_plugin.LoadCIRImages', keys=('img', )), dict(type='sdfn_plugin.PackCIRInputs')]
#: an item ``{BAD_IMAGE_KEY: path, 'error': message}`` stands for an image that could not be decoded
#: (``skip_bad=True``); gallery encoding gives it no embedding and reports it
BAD_IMAGE_KEY = 'bad_image'


class EmptyImageFolderError(ValueError):
    """A folder or list without a single image file."""


class ImageDecodeError(OSError):
    """An image file that cannot be read or decoded (the message names it)."""


def _list_images(source: Union[str, Sequence[str]]) -> List[str]:
    if isinstance(source, str) and osp.isdir(source):
        paths = sorted(osp.join(root, f) for root, _, files in os.walk(source, followlinks=True) for f in files
                       if f.lower().endswith(IMAGE_EXTENSIONS))
        if not paths:
            raise EmptyImageFolderError(f'image folder {source!r} holds no image file ({", ".join(IMAGE_EXTENSIONS)}, '
                                        'searched recursively)')
        return [osp.abspath(p) for p in paths]
    if isinstance(source, str):
        if not osp.isfile(source):
            raise FileNotFoundError(f'image folder or list file not found: {source!r}')
        base = osp.dirname(osp.abspath(source))
        with open(source, encoding='utf-8') as f:
            lines = [line.strip() for line in f]
        paths = [osp.abspath(osp.join(base, line)) for line in lines if line and not line.startswith('#')]
        if not paths:
            raise EmptyImageFolderError(f'image list {source!r} names no image (one path a line)')
        return paths
    paths = [osp.abspath(str(p)) for p in source]
    if not paths:
        raise EmptyImageFolderError('the image list is empty')
    return paths


@DATASETS.register_module()
class ImageListDataset(BaseDataset):
    """Images for a gallery index, keyed by their absolute paths.

    Args:
        images: a folder (searched recursively for :data:`IMAGE_EXTENSIONS`, sorted),
            a text file with one image path a line (relative to the file; ``#``
            comments), or a list of paths.
        pipeline: transforms producing ``{'inputs': {'img': ...}}``; use the model's
            gallery pipeline (default: load + pack, as in the shipped configs).
        skip_bad: an image that cannot be decoded raises :class:`ImageDecodeError`
            naming it; with ``skip_bad=True`` it is left out of the index instead and
            counted (``model.prepare_gallery`` logs the count, the index lists the keys).

    Raises:
        EmptyImageFolderError: no image in the folder/list. Listed files that do not
        exist raise ``FileNotFoundError`` naming the first (and the count).
    """

    def __init__(self, images: Union[str, Sequence[str]], pipeline: Optional[PipelineCfg] = None,
                 skip_bad: bool = False) -> None:
        self.paths = _list_images(images)
        missing = [p for p in self.paths if not osp.isfile(p)]
        if missing:
            raise FileNotFoundError(f'{len(missing)} listed image(s) do not exist, first: {missing[0]!r}')
        duplicates = len(self.paths) - len(set(self.paths))
        if duplicates:
            seen, first = set(), None
            for p in self.paths:
                if p in seen:
                    first = p
                    break
                seen.add(p)
            raise ValueError(f'the image list names {duplicates} image(s) twice, first: {first!r}')
        self.skip_bad = bool(skip_bad)
        super().__init__(pipeline=list(pipeline if pipeline is not None else DEFAULT_PIPELINE), test_mode=True,
                         serialize_data=False)

    def load_data_list(self) -> List[dict]:
        return [dict(img_path=p, img_id=p) for p in self.paths]

    def gallery_keys(self) -> List[str]:
        return list(self.paths)

    def prepare_data(self, idx: int) -> dict:
        try:
            return super().prepare_data(idx)
        except OSError as err:  # read_image raises OSError (FileNotFoundError included) naming the file
            if self.skip_bad:
                MMLogger.get_current_instance().debug(f'skipping {self.paths[idx]!r}: {err}')
                return {BAD_IMAGE_KEY: self.paths[idx], 'error': str(err)}
            raise ImageDecodeError(f'cannot decode image {self.paths[idx]!r}: {err} '
                                   '(pass skip_bad=True / --skip-bad to leave such images out)') from None
