from .data_sample import CIRDataSample, stack_sample_idx
from .features import FusionOutput, ImageFeatures, QueryBatch, TextFeatures

__all__ = ['CIRDataSample', 'stack_sample_idx', 'FusionOutput', 'ImageFeatures', 'QueryBatch', 'TextFeatures']
