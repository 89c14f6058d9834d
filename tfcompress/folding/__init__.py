"""FoldedCNNs (Kosaian et al., ICML 2021): f images on the channel axis of one wider CNN.

`fold_model` builds the folded network, `fold_inputs`/`unfold_outputs` (or
`folded_call`) move between images and folded inputs, `FoldDistiller` trains
the student from its unfolded teacher, and `flops`, `arithmetic_intensity`
and `throughput` measure both.
"""
from tfcompress.folding.distill import FoldCurriculum, FoldDistiller, teacher_fold
from tfcompress.folding.fold import check_fold, fold_inputs, fold_model, folded_call, unfold_outputs
from tfcompress.folding.measure import ImageTimer, LayerCost, arithmetic_intensity, flops, op_flops, throughput

__all__ = ["FoldCurriculum", "FoldDistiller", "ImageTimer", "LayerCost", "arithmetic_intensity", "check_fold",
           "flops", "fold_inputs", "fold_model", "folded_call", "op_flops", "teacher_fold",
           "throughput", "unfold_outputs"]
