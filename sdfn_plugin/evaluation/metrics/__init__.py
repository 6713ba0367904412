from .recall import RecallAtK

__all__ = ['RecallAtK']
