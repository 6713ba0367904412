"""Interface of a training objective term."""
from abc import ABCMeta, abstractmethod
from typing import Dict, List, Optional

import torch
from torch import nn

from sdfn_plugin.models.scorers import BaseScorer
from sdfn_plugin.structures import CIRDataSample, QueryBatch


class BaseCIRLoss(nn.Module, metaclass=ABCMeta):
    """One term of a composed-retrieval objective.

    ``forward`` returns a dict whose keys contain ``'loss'`` for terms that are
    optimised (mmengine's ``parse_losses`` sums every such key) and other names
    for log-only scalars.

    Args:
        loss_weight: multiplier applied to every ``loss*`` entry.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        if loss_weight < 0:
            raise ValueError(f'{type(self).__name__}.loss_weight must be >= 0, got {loss_weight}')
        self.loss_weight = float(loss_weight)

    @abstractmethod
    def forward(self, query: QueryBatch, target: torch.Tensor, scorer: BaseScorer,
                data_samples: Optional[List[CIRDataSample]] = None) -> Dict[str, torch.Tensor]:
        """Args: composed query batch (with fusion aux), target embeddings
        ``(B, D)``, the model's scorer, and the batch's data samples."""
