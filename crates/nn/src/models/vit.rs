//! Vision Transformer / DeiT (Dosovitskiy et al. 2021; Touvron et al. 2021) in timm's key
//! layout (`patch_embed.proj`, `cls_token`, `pos_embed`, `blocks.N.{norm1,attn.qkv,attn.proj,
//! norm2,mlp.fc1,mlp.fc2}`, `norm`, `head`). Features are the final-normed class token, as
//! timm's `forward_head(pre_logits=True)` with `global_pool="token"`.
//!
//! Own code rather than candle-transformers' `vit`, whose key names follow Hugging Face; the
//! model is small and this keeps one NHWC patch embedding (an im2col GEMM) and fused linears.
//! Widths and depth are read from the checkpoint; only the head count is configured.

use crate::checkpoint::Weights;
use crate::error::{Error, Result};
use crate::layers::{to_nhwc, Activation, Conv, LayerNorm, Linear, Padding};
use candle_core::{Device, Tensor};

/// LayerNorm epsilon of timm ViTs (`partial(nn.LayerNorm, eps=1e-6)`).
const LN_EPS: f32 = 1e-6;

struct Block {
    norm1: LayerNorm,
    qkv: Linear,
    proj: Linear,
    norm2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
}

/// A ViT with a class token.
pub struct VisionTransformer {
    patch: Conv,
    cls_token: Tensor,
    pos_embed: Tensor,
    blocks: Vec<Block>,
    norm: LayerNorm,
    head: Option<Linear>,
    heads: usize,
    dim: usize,
}

impl VisionTransformer {
    /// Builds the model from a timm checkpoint with `heads` attention heads.
    pub fn new(w: &Weights, heads: usize, device: &Device) -> Result<Self> {
        let missing = |key: &str| Error::Checkpoint {
            path: w.path().to_path_buf(),
            reason: format!("no {key}: not a timm ViT/DeiT checkpoint"),
        };
        let pw = w
            .shape("patch_embed.proj.weight")
            .ok_or_else(|| missing("patch_embed.proj.weight"))?;
        let (dim, p) = (pw[0], pw[2]);
        let tokens = w.shape("pos_embed").ok_or_else(|| missing("pos_embed"))?[1];
        let depth = (0..)
            .take_while(|i| w.contains(&format!("blocks.{i}.attn.qkv.weight")))
            .count();
        let hidden = w.shape("blocks.0.mlp.fc1.weight").map_or(4 * dim, |s| s[0]);
        if heads == 0 || dim % heads != 0 {
            return Err(Error::Option {
                name: "heads",
                value: heads.to_string(),
                reason: format!("must divide the embedding width {dim}"),
            });
        }
        let linear = |name: &str, out: usize, inp: usize, act: Activation| -> Result<Linear> {
            let weight = w.get(&format!("{name}.weight"), &[out, inp])?;
            Linear::new(&weight, w.vec(&format!("{name}.bias"), out)?, act, device)
        };
        let patch = Conv::new(
            &w.get("patch_embed.proj.weight", &[dim, 3, p, p])?,
            Some(w.vec("patch_embed.proj.bias", dim)?),
            None,
            p,
            Padding::default(),
            1,
            Activation::Identity,
            device,
        )?;
        let mut blocks = Vec::with_capacity(depth);
        for i in 0..depth {
            let b = format!("blocks.{i}");
            blocks.push(Block {
                norm1: LayerNorm::load(w, &format!("{b}.norm1"), dim, LN_EPS, device)?,
                qkv: linear(&format!("{b}.attn.qkv"), 3 * dim, dim, Activation::Identity)?,
                proj: linear(&format!("{b}.attn.proj"), dim, dim, Activation::Identity)?,
                norm2: LayerNorm::load(w, &format!("{b}.norm2"), dim, LN_EPS, device)?,
                fc1: linear(&format!("{b}.mlp.fc1"), hidden, dim, Activation::Gelu)?,
                fc2: linear(&format!("{b}.mlp.fc2"), dim, hidden, Activation::Identity)?,
            });
        }
        let head = Linear::optional_head(w, "head", dim, device)?;
        Ok(VisionTransformer {
            patch,
            cls_token: w.get("cls_token", &[1, 1, dim])?.to_device(device)?,
            pos_embed: w.get("pos_embed", &[1, tokens, dim])?.to_device(device)?,
            blocks,
            norm: LayerNorm::load(w, "norm", dim, LN_EPS, device)?,
            head,
            heads,
            dim,
        })
    }

    /// Embedding width (384 for DeiT-S).
    pub fn feature_dim(&self) -> usize {
        self.dim
    }

    /// Class-token features of an NCHW batch, and logits when the checkpoint has `head`.
    pub fn forward(&self, x: &Tensor) -> Result<(Tensor, Option<Tensor>)> {
        let b = x.dim(0)?;
        let patches = self.patch.forward(&to_nhwc(x)?, None)?; // (B, h, w, D)
        let (_, gh, gw, d) = patches.dims4()?;
        let patches = patches.reshape((b, gh * gw, d))?;
        let cls = self.cls_token.broadcast_as((b, 1, d))?;
        let mut x = Tensor::cat(&[&cls, &patches], 1)?.broadcast_add(&self.pos_embed)?;
        for blk in &self.blocks {
            let y = self.attention(blk, &blk.norm1.forward(&x)?)?;
            x = (x + y)?;
            let y = blk
                .fc2
                .forward(&blk.fc1.forward(&blk.norm2.forward(&x)?)?)?;
            x = (x + y)?;
        }
        let x = self.norm.forward(&x)?;
        let features = x.narrow(1, 0, 1)?.squeeze(1)?.contiguous()?;
        let logits = match &self.head {
            Some(h) => Some(h.forward(&features)?),
            None => None,
        };
        Ok((features, logits))
    }

    fn attention(&self, blk: &Block, x: &Tensor) -> Result<Tensor> {
        let (b, n, d) = x.dims3()?;
        let hd = d / self.heads;
        let qkv = blk
            .qkv
            .forward(x)?
            .reshape((b, n, 3, self.heads, hd))?
            .permute((2, 0, 3, 1, 4))?; // (3, B, H, N, hd)
        let q = qkv.get(0)?.contiguous()?;
        let k = qkv.get(1)?.contiguous()?;
        let v = qkv.get(2)?.contiguous()?;
        let scores = (q.matmul(&k.t()?)? * (1.0 / (hd as f64).sqrt()))?;
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let out = probs.matmul(&v)?.transpose(1, 2)?.reshape((b, n, d))?;
        blk.proj.forward(&out.contiguous()?)
    }
}
