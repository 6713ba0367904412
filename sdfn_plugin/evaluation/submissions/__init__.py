from .base import SubmissionError, SubmissionMetric, check_file_size, load_json_file, write_json_atomic
from .circo import CIRCOSubmission, validate_circo_submission

__all__ = ['SubmissionError', 'SubmissionMetric', 'write_json_atomic', 'load_json_file', 'check_file_size',
           'CIRCOSubmission', 'validate_circo_submission']
