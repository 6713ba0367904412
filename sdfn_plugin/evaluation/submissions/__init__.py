from .base import SubmissionError, SubmissionMetric, check_file_size, load_json_file, write_json_atomic

__all__ = ['SubmissionError', 'SubmissionMetric', 'write_json_atomic', 'load_json_file', 'check_file_size']
