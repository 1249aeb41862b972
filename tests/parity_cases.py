"""Layer cases run the same way under PyTorch (tools/make_parity_fixtures.py records their outputs and
gradients into tests/data/parity_torch.npz) and under ferrograd (tests/test_nn_parity.py compares).

Each case builds an optional module with `build(torch)` and returns the output(s) of
`call(torch, module, *inputs)`, where `torch` is either library: the code is identical, which is
the point of the API. Float inputs are leaves that require grad; integer inputs are indices.
"""
import numpy as np

CASES = {}


class Case:
    def __init__(self, name, call, inputs, build=None, train=False, gradcheck=True, atol_gpu=1e-4):
        self.name, self.call, self.inputs, self.build = name, call, inputs, build
        self.train, self.gradcheck, self.atol_gpu = train, gradcheck, atol_gpu


def case(name, inputs, build=None, **kwargs):
    def register(call):
        CASES[name] = Case(name, call, inputs, build, **kwargs)
        return call
    return register


def x(*shape, seed=0, low=-2.0, high=2.0):
    return np.random.default_rng(seed).uniform(low, high, size=shape)


def ints(values):
    return np.asarray(values, dtype=np.int64)


def F(torch):
    return torch.nn.functional


# ---------------------------------------------------------------------------- transformer


@case("transformer_decoder_layer", [x(4, 2, 8), x(5, 2, 8, seed=1)],
      build=lambda t: t.nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0), gradcheck=False, atol_gpu=1e-3)
def _(t, m, tgt, mem):
    mask = t.nn.Transformer.generate_square_subsequent_mask(4, dtype=tgt.dtype)
    pad = t.tensor(np.array([[False] * 4 + [True], [False] * 5]))
    return m(tgt, mem, tgt_mask=mask, memory_key_padding_mask=pad)


@case("transformer_decoder_layer_norm_first_batch_first", [x(2, 4, 8), x(2, 3, 8, seed=1)],
      build=lambda t: t.nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0, activation="gelu", batch_first=True,
                                                   norm_first=True), gradcheck=False, atol_gpu=1e-3)
def _(t, m, tgt, mem):
    pad = t.tensor(np.array([[False, False, False, True], [False] * 4]))
    return m(tgt, mem, tgt_key_padding_mask=pad, tgt_is_causal=False)


@case("transformer_decoder_stack", [x(3, 2, 8), x(4, 2, 8, seed=1)],
      build=lambda t: t.nn.TransformerDecoder(t.nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0), 2,
                                              norm=t.nn.LayerNorm(8)), gradcheck=False, atol_gpu=1e-3)
def _(t, m, tgt, mem):
    return m(tgt, mem, tgt_mask=t.nn.Transformer.generate_square_subsequent_mask(3, dtype=tgt.dtype))


@case("transformer", [x(5, 2, 8), x(4, 2, 8, seed=1)],
      build=lambda t: t.nn.Transformer(d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                                       dim_feedforward=16, dropout=0.0), gradcheck=False, atol_gpu=1e-3)
def _(t, m, src, tgt):
    src_pad = t.tensor(np.array([[False] * 4 + [True], [False] * 5]))
    return m(src, tgt, tgt_mask=m.generate_square_subsequent_mask(4, dtype=tgt.dtype),
             src_key_padding_mask=src_pad, memory_key_padding_mask=src_pad)


@case("transformer_batch_first_norm_first", [x(2, 5, 8), x(2, 3, 8, seed=1)],
      build=lambda t: t.nn.Transformer(d_model=8, nhead=4, num_encoder_layers=2, num_decoder_layers=1,
                                       dim_feedforward=8, dropout=0.0, batch_first=True, norm_first=True,
                                       activation="gelu"), gradcheck=False, atol_gpu=1e-3)
def _(t, m, src, tgt):
    return m(src, tgt, tgt_mask=m.generate_square_subsequent_mask(3, dtype=tgt.dtype))


@case("transformer_unbatched", [x(4, 8), x(3, 8, seed=1)],
      build=lambda t: t.nn.Transformer(d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                                       dim_feedforward=8, dropout=0.0), gradcheck=False, atol_gpu=1e-3)
def _(t, m, src, tgt):
    pad = t.tensor(np.array([False, False, True, False]))
    return m(src, tgt, tgt_mask=m.generate_square_subsequent_mask(3, dtype=tgt.dtype), src_key_padding_mask=pad,
             memory_key_padding_mask=pad)


# ---------------------------------------------------------------------------- embedding bags

@case("embedding_bag_sum_offsets_weights", [x(7), ints([1, 2, 4, 5, 4, 3, 2])],
      build=lambda t: t.nn.EmbeddingBag(6, 3, mode="sum"))
def _(t, m, w, idx):
    return m(idx, t.tensor(ints([0, 3, 3])), per_sample_weights=w)


@case("embedding_bag_mean_2d_padding", [ints([[1, 0, 4], [0, 0, 0], [5, 5, 2]])],
      build=lambda t: t.nn.EmbeddingBag(6, 4, mode="mean", padding_idx=0))
def _(t, m, idx):
    return m(idx)


@case("embedding_bag_max_last_offset", [ints([3, 1, 4, 1, 5, 2])],
      build=lambda t: t.nn.EmbeddingBag(6, 2, mode="max", include_last_offset=True))
def _(t, m, idx):
    return m(idx, t.tensor(ints([0, 2, 2, 6])))


@case("embedding_bag_max_norm_scale_grad_by_freq", [ints([1, 2, 1, 1, 4, 2, 0])],
      build=lambda t: t.nn.EmbeddingBag(5, 3, max_norm=1.2, scale_grad_by_freq=True, mode="sum"), train=True)
def _(t, m, idx):
    offsets = t.tensor(ints([0, 2, 5]))
    return m(idx, offsets), F(t).embedding_bag(idx, m.weight, offsets, mode="mean", scale_grad_by_freq=True)


@case("embedding_scale_grad_by_freq", [ints([[1, 2, 1], [1, 4, 0]])],
      build=lambda t: t.nn.Embedding(5, 3, scale_grad_by_freq=True, padding_idx=0))
def _(t, m, idx):
    return m(idx)


# ---------------------------------------------------------------------------- resampling

@case("interpolate_nearest_scale2", [x(2, 3, 3, 4)])
def _(t, m, a):
    return F(t).interpolate(a, scale_factor=2)


@case("interpolate_nearest_1d_size", [x(2, 3, 7)])
def _(t, m, a):
    return F(t).interpolate(a, size=5, mode="nearest")


@case("interpolate_nearest_exact", [x(1, 2, 5, 3)])
def _(t, m, a):
    return F(t).interpolate(a, size=(3, 7), mode="nearest-exact")


@case("interpolate_nearest_3d_scale", [x(1, 2, 3, 2, 4)])
def _(t, m, a):
    return F(t).interpolate(a, scale_factor=(1.5, 2.0, 0.75))


@case("interpolate_linear_scale", [x(2, 3, 6)])
def _(t, m, a):
    return F(t).interpolate(a, scale_factor=1.7, mode="linear")


@case("interpolate_linear_align", [x(2, 3, 6)])
def _(t, m, a):
    return F(t).interpolate(a, size=10, mode="linear", align_corners=True)


@case("interpolate_bilinear", [x(2, 2, 3, 4)])
def _(t, m, a):
    return F(t).interpolate(a, size=(5, 7), mode="bilinear", align_corners=False)


@case("interpolate_bilinear_align_down", [x(1, 2, 7, 6)])
def _(t, m, a):
    return F(t).interpolate(a, size=(4, 3), mode="bilinear", align_corners=True)


@case("interpolate_bicubic_scale", [x(1, 2, 4, 5)])
def _(t, m, a):
    return F(t).interpolate(a, scale_factor=2, mode="bicubic")


@case("interpolate_bicubic_align", [x(1, 2, 5, 4)])
def _(t, m, a):
    return F(t).interpolate(a, size=(7, 3), mode="bicubic", align_corners=True)


@case("interpolate_trilinear", [x(1, 2, 3, 4, 3)])
def _(t, m, a):
    return F(t).interpolate(a, size=(4, 3, 5), mode="trilinear")


# Long rows: past _DENSE_RESAMPLE_LIMIT cell pairs, resampling gathers taps instead of a matrix product.
@case("interpolate_long_rows", [x(1, 1, 2, 300), x(1, 1, 1, 290, seed=1), x(1, 1, 2, 700, seed=2)],
      gradcheck=False)
def _(t, m, a, b, long):
    f = F(t)
    return (f.interpolate(long, size=(2, 230), mode="bilinear", antialias=True),f.interpolate(a, size=(3, 520), mode="bilinear"), f.interpolate(a, size=(2, 610), mode="bicubic",
                                                                             align_corners=True),
            f.interpolate(b[0], size=577, mode="nearest"), f.interpolate(b[0], scale_factor=2.1, mode="linear"),
            f.interpolate(b, size=(1, 450), mode="nearest-exact"))


@case("interpolate_antialias", [x(1, 2, 9, 11)])
def _(t, m, a):
    f = F(t)
    return (f.interpolate(a, size=(4, 5), mode="bilinear", antialias=True),
            f.interpolate(a, scale_factor=(0.45, 0.3), mode="bicubic", antialias=True),
            f.interpolate(a, size=(12, 6), mode="bicubic", align_corners=True, antialias=True),
            f.interpolate(a, scale_factor=1.5, mode="bilinear", antialias=True))


@case("interpolate_area", [x(1, 2, 7, 5)])
def _(t, m, a):
    return F(t).interpolate(a, size=(3, 4), mode="area")


@case("upsample_module_bilinear", [x(1, 2, 3, 3)], build=lambda t: t.nn.Upsample(scale_factor=2, mode="bilinear"))
def _(t, m, a):
    return m(a)


@case("upsampling_nearest2d", [x(1, 2, 3, 3)], build=lambda t: t.nn.UpsamplingNearest2d(size=(5, 4)))
def _(t, m, a):
    return m(a)


@case("upsampling_bilinear2d", [x(1, 2, 3, 3)], build=lambda t: t.nn.UpsamplingBilinear2d(scale_factor=2))
def _(t, m, a):
    return m(a)


@case("pixel_shuffle_unshuffle", [x(2, 8, 3, 2), x(1, 2, 4, 6, seed=1)])
def _(t, m, a, b):
    return t.nn.PixelShuffle(2)(a), t.nn.PixelUnshuffle(2)(b), F(t).pixel_shuffle(a[0], 2)


@case("channel_shuffle", [x(2, 6, 2, 2)], build=lambda t: t.nn.ChannelShuffle(3))
def _(t, m, a):
    return m(a)


@case("grid_sample_bilinear_zeros", [x(2, 3, 4, 5), x(2, 3, 4, 2, seed=1, low=-1.2, high=1.2)])
def _(t, m, a, grid):
    return F(t).grid_sample(a, grid, align_corners=False)


@case("grid_sample_nearest_border", [x(1, 2, 4, 3), x(1, 5, 2, 2, seed=1, low=-1.3, high=1.3)])
def _(t, m, a, grid):
    return F(t).grid_sample(a, grid, mode="nearest", padding_mode="border", align_corners=True)


@case("grid_sample_bilinear_reflection", [x(1, 2, 4, 5), x(1, 3, 3, 2, seed=1, low=-1.8, high=1.8)])
def _(t, m, a, grid):
    return F(t).grid_sample(a, grid, padding_mode="reflection", align_corners=False)


@case("grid_sample_bicubic_reflection_align", [x(1, 2, 5, 4), x(1, 3, 2, 2, seed=1, low=-1.5, high=1.5)])
def _(t, m, a, grid):
    return F(t).grid_sample(a, grid, mode="bicubic", padding_mode="reflection", align_corners=True)


@case("grid_sample_bicubic_zeros", [x(1, 1, 4, 4), x(1, 3, 3, 2, seed=1, low=-1.1, high=1.1)])
def _(t, m, a, grid):
    return F(t).grid_sample(a, grid, mode="bicubic", align_corners=False)


@case("grid_sample_3d_bilinear_border", [x(1, 2, 3, 4, 3), x(1, 2, 2, 3, 3, seed=1, low=-1.2, high=1.2)])
def _(t, m, a, grid):
    return F(t).grid_sample(a, grid, padding_mode="border", align_corners=False)


@case("affine_grid_2d_3d", [x(2, 2, 3), x(1, 3, 4, seed=1)])
def _(t, m, theta2, theta3):
    return (F(t).affine_grid(theta2, [2, 3, 4, 5], align_corners=False),
            F(t).affine_grid(theta3, [1, 1, 2, 3, 4], align_corners=True))


# ---------------------------------------------------------------------------- padding, fold, unpool

def _pad_case(name, cls, arg, shape):
    @case(name, [x(*shape)], build=lambda t: getattr(t.nn, cls)(arg))
    def _(t, m, a):
        return m(a)


for _dims, _shape, _arg in ((1, (2, 3, 5), (2, 1)), (2, (1, 2, 4, 5), (1, 2, 2, 0)),
                            (3, (1, 2, 3, 4, 3), (1, 0, 2, 1, 1, 2))):
    for _kind in ("Zero", "Reflection", "Replication", "Circular"):
        _pad_case(f"pad_{_kind.lower()}{_dims}d", f"{_kind}Pad{_dims}d", _arg, _shape)


@case("pad_constant123d", [x(2, 4), x(1, 2, 3, 2, seed=1), x(1, 2, 2, 2, 2, seed=2)])
def _(t, m, a, b, c):
    return t.nn.ConstantPad1d(2, 3.5)(a), t.nn.ConstantPad2d((1, 0, 2, 1), -1.0)(b), \
        t.nn.ConstantPad3d(1, 0.5)(c)


@case("fold_unfold_modules", [x(2, 3, 5, 4), x(1, 12, 8, seed=1)])
def _(t, m, a, cols):
    return t.nn.Unfold(kernel_size=(2, 3), padding=1, stride=(2, 1))(a), \
        t.nn.Fold(output_size=(4, 5), kernel_size=2, stride=(2, 1))(cols)


@case("max_unpool_1d_2d_3d", [x(2, 3, 8), x(1, 2, 4, 6, seed=1), x(1, 2, 4, 4, 2, seed=2)])
def _(t, m, a, b, c):
    f = F(t)
    out1, idx1 = f.max_pool1d(a, 2, return_indices=True)
    out2, idx2 = f.max_pool2d(b, 2, stride=2, return_indices=True)
    out3, idx3 = f.max_pool3d(c, 2, return_indices=True)
    return (t.nn.MaxUnpool1d(2)(out1, idx1), t.nn.MaxUnpool2d(2, stride=2)(out2, idx2, output_size=(5, 7)),
            t.nn.MaxUnpool3d(2)(out3, idx3))


# ---------------------------------------------------------------------------- normalisation

@case("rms_norm", [x(3, 4, 5)], build=lambda t: t.nn.RMSNorm([4, 5], eps=1e-5))
def _(t, m, a):
    return m(a), t.nn.RMSNorm(5, elementwise_affine=False)(a), F(t).rms_norm(a, (5,))


@case("instance_norm1d_affine_running", [x(3, 4, 6)],
      build=lambda t: t.nn.InstanceNorm1d(4, affine=True, track_running_stats=True), train=True)
def _(t, m, a):
    return m(a)


@case("instance_norm2d_unbatched", [x(3, 4, 5)], build=lambda t: t.nn.InstanceNorm2d(3))
def _(t, m, a):
    return m(a)


@case("instance_norm3d_eval_running", [x(2, 2, 3, 3, 2)],
      build=lambda t: t.nn.InstanceNorm3d(2, affine=True, track_running_stats=True))
def _(t, m, a):
    stats = t.tensor(np.array([0.3, -0.2]), dtype=a.dtype)
    return m(a), F(t).instance_norm(a), F(t).instance_norm(a, stats, stats + 1.0, use_input_stats=False)


@case("local_response_norm", [x(2, 6, 3), x(1, 5, 3, 2, seed=1), x(1, 4, 2, 2, 2, seed=2)],
      build=lambda t: t.nn.LocalResponseNorm(3, alpha=0.1, beta=0.6, k=1.5))
def _(t, m, a, b, c):
    return m(a), m(b), F(t).local_response_norm(c, 2)


# No gradcheck: PyTorch's gradient for this legacy layer is its own formula, not the derivative of its
# forward; ferrograd reproduces that formula (compared with PyTorch's gradients).
@case("cross_map_lrn2d", [x(2, 7, 2, 3)], build=lambda t: t.nn.CrossMapLRN2d(5, alpha=0.2, beta=0.7, k=2),
      gradcheck=False)
def _(t, m, a):
    return m(a)


@case("batch_norm3d_train", [x(3, 2, 2, 3, 2)], build=lambda t: t.nn.BatchNorm3d(2), train=True)
def _(t, m, a):
    return m(a)


@case("norms_without_bias", [x(3, 4, 2, 2)],
      build=lambda t: t.nn.ModuleList([t.nn.BatchNorm2d(4, bias=False), t.nn.GroupNorm(2, 4, bias=False),
                                       t.nn.InstanceNorm2d(4, affine=True, bias=False)]), train=True)
def _(t, m, a):
    return tuple(norm(a) for norm in m)


@case("sync_batch_norm_one_process", [x(4, 3, 2, 2)], build=lambda t: t.nn.SyncBatchNorm(3, momentum=0.3),
      train=True)
def _(t, m, a):
    return m(a)


# ---------------------------------------------------------------------------- 3-D and 1-D

@case("conv3d", [x(2, 4, 5, 4, 6)], build=lambda t: t.nn.Conv3d(4, 6, (3, 2, 3), stride=(2, 1, 2), padding=(1, 0, 2),
                                                                dilation=(1, 2, 1), groups=2))
def _(t, m, a):
    return m(a)


@case("conv3d_same_circular", [x(1, 2, 4, 3, 5)],
      build=lambda t: t.nn.Conv3d(2, 3, (2, 3, 3), padding="same", padding_mode="circular"))
def _(t, m, a):
    return m(a), F(t).conv3d(a, m.weight, None, padding="same", dilation=(2, 1, 1))


@case("conv_transpose1d_groups", [x(2, 4, 5)],
      build=lambda t: t.nn.ConvTranspose1d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2, dilation=2))
def _(t, m, a):
    return m(a), m(a[0])


@case("conv_transpose2d_groups", [x(1, 4, 3, 4)],
      build=lambda t: t.nn.ConvTranspose2d(4, 2, (2, 3), stride=(2, 1), padding=(0, 1), groups=2))
def _(t, m, a):
    return m(a)


@case("conv_transpose3d", [x(2, 4, 3, 2, 3)],
      build=lambda t: t.nn.ConvTranspose3d(4, 2, (3, 2, 2), stride=(2, 1, 2), padding=(1, 0, 1),
                                           output_padding=(1, 0, 0), groups=2, dilation=(1, 2, 1)))
def _(t, m, a):
    return m(a), m(a, output_size=(6, 4, 5))


@case("max_pool3d_indices", [x(2, 2, 5, 6, 5)],
      build=lambda t: t.nn.MaxPool3d((3, 2, 2), stride=(2, 2, 1), padding=(1, 1, 0), dilation=(1, 2, 2),
                                     ceil_mode=True, return_indices=True))
def _(t, m, a):
    return m(a)


@case("max_pool1d_with_indices", [x(2, 3, 9)])
def _(t, m, a):
    return F(t).max_pool1d_with_indices(a, 3, stride=2, padding=1)


@case("avg_pool3d", [x(1, 2, 5, 4, 6)], build=lambda t: t.nn.AvgPool3d(3, stride=2, padding=1))
def _(t, m, a):
    return m(a), F(t).avg_pool3d(a, (2, 3, 2), stride=(2, 2, 3), padding=(1, 1, 0), ceil_mode=True,
                                 count_include_pad=False), F(t).avg_pool3d(a, 2, divisor_override=3)


@case("adaptive_pools_3d_1d", [x(1, 2, 5, 7, 4), x(2, 3, 7, seed=1)])
def _(t, m, a, b):
    return (t.nn.AdaptiveAvgPool3d((2, 3, None))(a), t.nn.AdaptiveMaxPool3d((3, 2, 3), return_indices=True)(a),
            t.nn.AdaptiveMaxPool1d(3, return_indices=True)(b), t.nn.AdaptiveMaxPool2d((2, 3), return_indices=True)(a[0]))


@case("lp_pools", [x(2, 3, 8), x(1, 2, 5, 6, seed=1), x(1, 2, 4, 4, 4, seed=2)])
def _(t, m, a, b, c):
    return (t.nn.LPPool1d(2, 3, stride=2)(a), t.nn.LPPool2d(3, (2, 3))(b.abs() + 0.1),
            t.nn.LPPool3d(2, 2)(c))


# ---------------------------------------------------------------------------- similarity and activations

@case("similarity", [x(4, 5), x(4, 5, seed=1), x(5, 3, seed=2)])
def _(t, m, a, b, c):
    return (t.nn.CosineSimilarity(dim=1)(a, b), t.nn.PairwiseDistance(p=3.0, keepdim=True)(a, b),
            t.nn.PairwiseDistance()(a, b), F(t).pdist(c), F(t).pdist(c, p=1.5))


@case("activations", [x(3, 6), x(2, 4, 3, seed=1)])
def _(t, m, a, b):
    f = F(t)
    return (f.glu(a), f.glu(b, dim=1), f.hardshrink(a, 0.7), f.softshrink(a), f.tanhshrink(a),
            f.rrelu(a, training=False), f.prelu(b, t.tensor(np.array([0.1, 0.2, 0.3, 0.4]), dtype=b.dtype)))


@case("inplace_activations", [x(2, 5)])
def _(t, m, a):
    f = F(t)
    return (f.elu_(a * 1.0), f.celu_(a * 1.0, 0.5), f.selu_(a * 1.0), f.leaky_relu_(a * 1.0, 0.2),
            f.hardtanh_(a * 1.0, -0.5, 0.5), f.threshold_(a * 1.0, 0.1, -3.0), f.rrelu_(a * 1.0), f.relu_(a * 1.0),
            f.relu(a * 1.0, inplace=True), f.relu(a, False))


# ---------------------------------------------------------------------------- losses

def _targets_pm1(n, seed=3):
    return np.where(np.random.default_rng(seed).uniform(size=n) > 0.5, 1.0, -1.0)


@case("ctc_loss_padded", [x(6, 2, 5)])
def _(t, m, logits):
    lp = F(t).log_softmax(logits, 2)
    targets = t.tensor(ints([[1, 2, 2], [3, 1, 0]]))
    lens_in, lens_t = t.tensor(ints([6, 5])), t.tensor(ints([3, 2]))
    return (t.nn.CTCLoss()(lp, targets, lens_in, lens_t),
            F(t).ctc_loss(lp, targets, lens_in, lens_t, reduction="none"),
            F(t).ctc_loss(lp, targets, (6, 4), (2, 1), blank=0, reduction="sum"))


@case("ctc_loss_concatenated_zero_infinity", [x(4, 3, 4)])
def _(t, m, logits):
    lp = F(t).log_softmax(logits, 2)
    targets = t.tensor(ints([1, 2, 3, 3, 3, 1]))
    # The second sample needs 5 steps for 3 3 3 (blanks between repeats): impossible in 4.
    return (t.nn.CTCLoss(blank=0, zero_infinity=True, reduction="none")(lp, targets, (4, 4, 3), [2, 3, 1]),
            F(t).ctc_loss(lp[:, 0], t.tensor(ints([1, 2])), t.tensor(4), t.tensor(2)))


@case("gaussian_nll_loss", [x(4, 3), x(4, 3, seed=1), x(4, 3, seed=2, low=0.05, high=2.0), x(4, seed=3, low=0.1,
                                                                                          high=1.0)])
def _(t, m, a, b, var, var1):
    return (t.nn.GaussianNLLLoss()(a, b, var), F(t).gaussian_nll_loss(a, b, var1, full=True, reduction="sum"),
            F(t).gaussian_nll_loss(a, b, var * 0.0 + 1e-8, eps=1e-3, reduction="none"))


@case("poisson_nll_loss", [x(3, 4), x(3, 4, seed=1, low=0.0, high=4.0), x(3, 4, seed=2, low=0.1, high=3.0)])
def _(t, m, a, target, rate):
    return (t.nn.PoissonNLLLoss()(a, target), t.nn.PoissonNLLLoss(log_input=False, full=True)(rate, target),
            F(t).poisson_nll_loss(a, target, reduction="none", full=True))


@case("ranking_hinge_cosine_losses", [x(5), x(5, seed=1), x(5, 4, seed=2), x(5, 4, seed=3)])
def _(t, m, a, b, u, v):
    y = t.tensor(_targets_pm1(5), dtype=a.dtype)
    return (t.nn.MarginRankingLoss(margin=0.3)(a, b, y), t.nn.HingeEmbeddingLoss(margin=0.5)(a, y),
            F(t).hinge_embedding_loss(u, t.tensor(_targets_pm1(20).reshape(5, 4), dtype=a.dtype), reduction="none"),
            t.nn.CosineEmbeddingLoss(margin=0.2)(u, v, y), F(t).cosine_embedding_loss(u[0], v[0], y[0]))


@case("triplet_losses", [x(4, 6), x(4, 6, seed=1), x(4, 6, seed=2)])
def _(t, m, a, p, n):
    cos_distance = lambda u, v: 1.0 - F(t).cosine_similarity(u, v)  # noqa: E731
    return (t.nn.TripletMarginLoss(margin=1.5)(a, p, n), t.nn.TripletMarginLoss(p=1, swap=True)(a, p, n),
            t.nn.TripletMarginWithDistanceLoss(distance_function=cos_distance, margin=0.8, reduction="sum")(a, p, n),
            t.nn.TripletMarginWithDistanceLoss(swap=True)(a, p, n))


@case("margin_losses", [x(4, 5), x(4, 5, seed=1, low=0.0, high=1.0)])
def _(t, m, a, soft_target):
    w = t.tensor(x(5, seed=2, low=0.5, high=1.5), dtype=a.dtype)
    labels = t.tensor(ints([[3, 0, -1, 1, 2], [1, 2, 3, 4, 0], [-1, 0, 0, 0, 0], [4, 4, -1, 0, 0]]))
    hard_target = t.tensor(np.round(np.random.default_rng(4).uniform(size=(4, 5))), dtype=a.dtype)
    y = t.tensor(_targets_pm1(20).reshape(4, 5), dtype=a.dtype)
    cls = t.tensor(ints([1, 0, 4, 2]))
    return (t.nn.MultiMarginLoss()(a, cls), t.nn.MultiMarginLoss(p=2, margin=0.7, weight=w)(a, cls),
            F(t).multi_margin_loss(a[1], cls[1]), t.nn.MultiLabelMarginLoss()(a, labels),
            F(t).multilabel_margin_loss(a, labels, reduction="none"),
            t.nn.MultiLabelSoftMarginLoss(weight=w)(a, hard_target),
            F(t).multilabel_soft_margin_loss(a, soft_target, reduction="none"), t.nn.SoftMarginLoss()(a, y))


@case("adaptive_log_softmax", [x(6, 8)],
      build=lambda t: t.nn.AdaptiveLogSoftmaxWithLoss(8, 10, cutoffs=[3, 6], div_value=2.0, head_bias=True))
def _(t, m, a):
    out = m(a, t.tensor(ints([0, 4, 9, 2, 7, 5])))
    return out.output, out.loss, m.log_prob(a), m.predict(a)


# ---------------------------------------------------------------------------- the rest of torch.nn's surface

@case("multi_head_attention_forward", [x(3, 2, 4), x(5, 2, 4, seed=1), x(12, 4, seed=2), x(4, 4, seed=3),
                                       x(4, 2, 2, seed=4)], gradcheck=False)
def _(t, m, q, kv, w_in, w_out, static):
    f = F(t)
    full = f.multi_head_attention_forward(q, kv, kv, 4, 2, w_in, None, None, None, True, 0.0, w_out, None,
                                          attn_mask=t.tensor(np.triu(np.ones((3, 5), dtype=bool), 3)))
    unbatched = f.multi_head_attention_forward(q[:, 0], kv[:, 0], kv[:, 0], 4, 2, w_in, None, None, None, False, 0.0,
                                               w_out, None, average_attn_weights=False)
    static_kv = f.multi_head_attention_forward(q, kv, kv, 4, 2, w_in, None, None, None, False, 0.0, w_out, None,
                                               need_weights=False, static_k=static, static_v=static * 2.0)[0]
    return full, unbatched, static_kv


@case("conv_tbc", [x(6, 2, 3), x(3, 3, 4, seed=1), x(4, seed=2)])
def _(t, m, a, w, b):
    return F(t).conv_tbc(a, w, b, 1), F(t).conv_tbc(a, w, b)


@case("fractional_max_pool", [x(2, 3, 7, 6), x(1, 2, 5, 6, 7, seed=1)])
def _(t, m, a, b):
    s2 = t.tensor(x(2, 3, 2, seed=5, low=0.0, high=1.0), dtype=a.dtype)
    s3 = t.tensor(x(1, 2, 3, seed=6, low=0.0, high=1.0), dtype=a.dtype)
    return (t.nn.FractionalMaxPool2d(2, output_size=(4, 3), return_indices=True, _random_samples=s2)(a),
            F(t).fractional_max_pool2d(a, (3, 2), output_ratio=(0.5, 0.6), _random_samples=s2),
            F(t).fractional_max_pool3d_with_indices(b, 2, output_size=(3, 4, 4), _random_samples=s3))


@case("linear_cross_entropy", [x(5, 4), x(4, 4, seed=1), x(3, 2, 4, seed=2)],
      build=lambda t: t.nn.LinearCrossEntropyLoss(4, 3, out_features=(2,), bias=True, label_smoothing=0.1))
def _(t, m, a, w, w3):
    target = t.tensor(ints([0, 3, 1, 2, 3]))
    return (F(t).linear_cross_entropy(a, w, target), F(t).linear_cross_entropy(a, w, target, reduction="none",
                                                                                ignore_index=1),
            m(a, t.tensor(ints([[0, 1], [2, 2], [1, 0], [0, 0], [2, 1]]))))
