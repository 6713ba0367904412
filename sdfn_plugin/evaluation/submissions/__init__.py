from .base import SubmissionError, SubmissionMetric, check_file_size, load_json_file, write_json_atomic
from .circo import CIRCOSubmission, validate_circo_submission
from .cirr import CIRRSubmission, validate_cirr_submission

__all__ = ['SubmissionError', 'SubmissionMetric', 'write_json_atomic', 'load_json_file', 'check_file_size',
           'CIRRSubmission', 'validate_cirr_submission', 'CIRCOSubmission', 'validate_circo_submission']
