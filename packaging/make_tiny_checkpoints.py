#!/usr/bin/env python
"""Write tiny random SAM and DINO checkpoints (a few MB) to check a build's model code paths.

    python packaging/make_tiny_checkpoints.py OUT_DIR   # -> OUT_DIR/tiny_sam.pth, OUT_DIR/tiny_dino.pth

The weights are random, so the masks and saliency they give mean nothing; they only show that the
frozen program loads segment-anything and timm models and runs them (SAM's automatic masks go
through torchvision's nms). Same reduced architectures as tests/core/test_sam.py and
tests/core/test_saliency.py.
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rthook_torchvision_cpu  # noqa: E402,F401  (lets a CPU-torch build venv import torchvision)
import torch  # noqa: E402


def tiny_sam() -> torch.nn.Module:
    from segment_anything.modeling import (
        ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer)

    img, patch, dim = 256, 16, 64
    torch.manual_seed(0)
    sam = Sam(
        image_encoder=ImageEncoderViT(
            depth=2, embed_dim=dim, img_size=img, mlp_ratio=4,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), num_heads=2, patch_size=patch,
            qkv_bias=True, use_rel_pos=True, global_attn_indexes=(1,), window_size=8, out_chans=dim),
        prompt_encoder=PromptEncoder(embed_dim=dim, image_embedding_size=(img // patch,) * 2,
                                     input_image_size=(img, img), mask_in_chans=8),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(depth=2, embedding_dim=dim, mlp_dim=128, num_heads=8),
            transformer_dim=dim, iou_head_depth=3, iou_head_hidden_dim=32),
    ).eval()
    return sam


def tiny_dino() -> torch.nn.Module:
    from timm.models.vision_transformer import VisionTransformer

    torch.manual_seed(0)
    return VisionTransformer(img_size=64, patch_size=8, embed_dim=48, depth=2, num_heads=3,
                             num_classes=0, dynamic_img_size=True).eval()


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    out.mkdir(parents=True, exist_ok=True)
    torch.save(tiny_sam().state_dict(), out / "tiny_sam.pth")
    torch.save(tiny_dino().state_dict(), out / "tiny_dino.pth")
    print(out / "tiny_sam.pth", out / "tiny_dino.pth")
    return 0


if __name__ == "__main__":
    sys.exit(main())
