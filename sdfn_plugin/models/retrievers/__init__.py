from .composed_retriever import ComposedRetriever
from .data_preprocessor import CIRDataPreprocessor

__all__ = ['ComposedRetriever', 'CIRDataPreprocessor']
