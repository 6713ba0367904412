"""Building one tower of an open_clip model: with weights through open_clip, randomly initialised offline."""
from typing import Optional

from torch import nn

_TOWERS = ('visual', 'text')


def create_open_clip_tower(owner: str, model_name: str, pretrained: Optional[str], tower: str,
                           image_size: Optional[int] = None) -> nn.Module:
    """The ``'visual'`` tower or the text tower of open_clip model ``model_name``.

    ``pretrained`` is an open_clip tag (``'openai'``, ``'laion2b_s34b_b79k'``...,
    fetched by open_clip into its cache on the user's machine) or a local file
    path: the whole model is created and loaded by ``open_clip.create_model``
    and the tower taken from it (the text tower's parts are attributes of the
    CLIP model itself). With ``pretrained=None`` only the requested tower is
    built, randomly initialised and offline, from the model's JSON config with
    the builders ``open_clip.model.CLIP`` uses (half the build time).
    """
    import open_clip
    if tower not in _TOWERS:
        raise ValueError(f'{owner}: tower must be one of {_TOWERS}, got {tower!r}')
    config = open_clip.get_model_config(model_name) if ':' not in model_name else None
    if ':' not in model_name and config is None:
        raise ValueError(f'{owner}.model_name {model_name!r} is not an open_clip model config '
                         '(see open_clip.list_models(), e.g. RN50, ViT-B-32)')
    if image_size is not None and (isinstance(image_size, bool) or not isinstance(image_size, int)
                                   or image_size <= 0):
        raise ValueError(f'{owner}.image_size must be a positive int or None, got {image_size!r}')
    if pretrained is not None or config is None or 'custom_text' in config or 'text_cfg' not in config:
        clip = open_clip.create_model(model_name, pretrained=pretrained, force_image_size=image_size)
        return clip.visual if tower == 'visual' else clip
    from open_clip.model import _build_text_tower, _build_vision_tower
    quick_gelu = config.get('quick_gelu', False)
    if tower == 'visual':
        vision_cfg = dict(config['vision_cfg'])
        if image_size is not None:
            vision_cfg['image_size'] = image_size
        return _build_vision_tower(config['embed_dim'], vision_cfg, quick_gelu)
    return _build_text_tower(config['embed_dim'], config['text_cfg'], quick_gelu)
