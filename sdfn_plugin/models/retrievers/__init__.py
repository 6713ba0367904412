from .composed_retriever import ComposedRetriever
from .data_preprocessor import CIRDataPreprocessor
from .ensemble_retriever import EnsembleRetriever

__all__ = ['ComposedRetriever', 'CIRDataPreprocessor', 'EnsembleRetriever']
