from .composed_retriever import ComposedRetriever
from .data_preprocessor import CIRDataPreprocessor
from .ensemble_retriever import EnsembleRetriever
from .fingerprint import fingerprint_differences, gallery_fingerprint
from .gallery_index import (DuplicateKeyError, FingerprintMismatchError, GalleryIndex, GalleryIndexError,
                            IndexFormatError)
from .gallery_mixin import GalleryRetrieverMixin

__all__ = ['ComposedRetriever', 'CIRDataPreprocessor', 'EnsembleRetriever', 'GalleryIndex', 'GalleryIndexError',
           'IndexFormatError', 'FingerprintMismatchError', 'DuplicateKeyError', 'GalleryRetrieverMixin',
           'gallery_fingerprint', 'fingerprint_differences']
