"""Interface of a composition (fusion) method."""
from abc import ABCMeta, abstractmethod

from torch import nn

from sdfn_plugin.structures import FusionOutput, ImageFeatures, TextFeatures


class BaseFusion(nn.Module, metaclass=ABCMeta):
    """Composes reference-image features and text features into a query.

    Subclasses declare the feature sizes they consume so the retriever can
    check them against the encoders at build time (a mismatch is a clear
    error naming both config fields, not a shape error deep in a matmul).

    Args:
        image_dim: channels of :class:`ImageFeatures` this block expects.
        text_dim: channels of :class:`TextFeatures` this block expects.
        embed_dim: size of the composed query; must equal the gallery
            embedding size for dot-product/cosine scoring.
    """

    def __init__(self, image_dim: int, text_dim: int, embed_dim: int) -> None:
        super().__init__()
        for name, value in (('image_dim', image_dim), ('text_dim', text_dim), ('embed_dim', embed_dim)):
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f'{type(self).__name__}.{name} must be a positive int, got {value!r}')
        self.image_dim = image_dim
        self.text_dim = text_dim
        self.embed_dim = embed_dim

    @abstractmethod
    def forward(self, img: ImageFeatures, txt: TextFeatures) -> FusionOutput:
        """Compose a batch of queries."""
