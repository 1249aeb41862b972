"""The files of TensorBoard's embedding projector: per embedding a folder with tensors.tsv,
metadata.tsv and sprite.png, and one projector_config.pbtxt listing them. Each file is written
atomically (temp file + rename), so the projector never reads a half-written one."""
import math
import os

import numpy as np
from google.protobuf import text_format
from tensorboard.plugins.projector.projector_config_pb2 import EmbeddingInfo, ProjectorConfig

from ..._io import _atomic_write
from ._summary import _grid, _png, to_numpy

CONFIG_NAME = "projector_config.pbtxt"


def write_embedding(log_dir, subdir, mat, metadata, label_img, metadata_header):
    """Writes one embedding's files into `log_dir/subdir`; returns what the config needs."""
    mat = to_numpy(mat)
    if mat.ndim != 2:
        raise ValueError(f"add_embedding: mat should be 2-D [N, D] (one row per point), got shape {tuple(mat.shape)}")
    n = mat.shape[0]
    if metadata is not None and len(metadata) != n:
        raise ValueError(f"add_embedding: {len(metadata)} metadata labels for {n} points (mat shape {tuple(mat.shape)})")
    images = None
    if label_img is not None:
        images = to_numpy(label_img)
        if images.ndim != 4 or images.shape[0] != n or images.shape[1] not in (1, 3):
            raise ValueError(f"add_embedding: label_img should be [N, C, H, W] with N = {n} points and C = 1 or 3, "
                             f"got shape {tuple(images.shape)}")
    save_path = os.path.join(log_dir, subdir)
    if os.path.exists(save_path) and not os.path.isdir(save_path):
        raise NotADirectoryError(f"add_embedding: {save_path} exists and is a file")
    os.makedirs(save_path, exist_ok=True)

    rows = ("\t".join(repr(float(x)) for x in row) for row in mat.reshape(n, -1))
    _atomic_write(os.path.join(save_path, "tensors.tsv"), ("\n".join(rows) + "\n").encode())
    if metadata is not None:
        if metadata_header:
            lines = ["\t".join(str(c) for c in line) for line in [metadata_header, *metadata]]
        else:
            lines = [str(label) for label in metadata]
        _atomic_write(os.path.join(save_path, "metadata.tsv"), ("\n".join(lines) + "\n").encode())
    if images is not None:
        _atomic_write(os.path.join(save_path, "sprite.png"), _sprite(images))
    return images


def _sprite(images):
    """The label images tiled into a square PNG, as the projector expects."""
    if images.shape[1] == 1:
        images = np.concatenate([images] * 3, axis=1)
    side = math.ceil(images.shape[0] ** 0.5)
    grid = _grid(images.astype(np.float64), ncols=side).transpose(1, 2, 0)
    square = np.zeros((grid.shape[1], grid.shape[1], 3))
    square[:grid.shape[0]] = grid
    return _png(np.uint8((square * 255).clip(0, 255)))


def embedding_info(tag, global_step, subdir, has_metadata, images):
    info = EmbeddingInfo(tensor_name=f"{tag}:{str(global_step).zfill(5)}", tensor_path=f"{subdir}/tensors.tsv")
    if has_metadata:
        info.metadata_path = f"{subdir}/metadata.tsv"
    if images is not None:
        info.sprite.image_path = f"{subdir}/sprite.png"
        info.sprite.single_image_dim.extend([images.shape[3], images.shape[2]])
    return info


def write_config(log_dir, config):
    _atomic_write(os.path.join(log_dir, CONFIG_NAME), text_format.MessageToString(config).encode())


__all__ = ["ProjectorConfig", "embedding_info", "write_config", "write_embedding"]
