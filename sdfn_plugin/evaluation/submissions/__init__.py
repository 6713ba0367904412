from .base import SubmissionError, SubmissionMetric, check_file_size, load_json_file, write_json_atomic
from .cirr import CIRRSubmission, validate_cirr_submission

__all__ = ['SubmissionError', 'SubmissionMetric', 'write_json_atomic', 'load_json_file', 'check_file_size',
           'CIRRSubmission', 'validate_cirr_submission']
