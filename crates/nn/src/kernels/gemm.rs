//! The GEMM of a dense convolution on NHWC rows, bias, residual and activation fused.

use super::im2col::gather_windows;
use super::{cpu_slice, with_scratch, Activation, Geometry};
use candle_core::{CpuStorage, Layout, Shape};
use faer::{MatMut, MatRef};
use hiercog_linalg::gemm_sequential;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// `act(x · W + bias [+ residual])` for `x` of shape `(rows, K)` and `W` of `(K, N)`.
///
/// The rows are cut into blocks of a size fixed by `K` and `N` alone; blocks run in parallel,
/// each as one sequential faer GEMM (`hiercog_linalg`; AVX-512 or AVX2 microkernels, picked at
/// run time) followed
/// at once by its epilogue while the block is still in cache. One pass over the output instead
/// of three, and the same numbers whatever the thread count. As a `CustomOp1` there is no
/// residual; as a `CustomOp2` the second tensor, `(rows, N)`, is the residual.
pub(crate) struct GemmOp<'a> {
    /// `(K, N)` row-major.
    pub weight: &'a [f32],
    /// `N`.
    pub bias: &'a [f32],
    pub act: Activation,
}

/// Floats of input plus output rows per block: ≈1 MiB, so a block stays in a core's L2.
const BLOCK_FLOATS: usize = 1 << 18;

/// Where a GEMM's rows come from.
pub(super) enum Rows<'a> {
    /// `(rows, K)` row-major: the NHWC pixels of a 1×1 convolution, or a linear layer's input.
    Dense(&'a [f32]),
    /// The `k × k` windows of a convolution over NHWC images (`x`, shaped by `g`), gathered
    /// (im2col) one block of rows at a time into a per-thread buffer, never as a whole matrix.
    Windows { x: &'a [f32], g: &'a Geometry },
}

impl GemmOp<'_> {
    /// The GEMM over `rows` rows of `k` values from `input`, with the matching rows of
    /// `residual`.
    pub(super) fn run(
        &self,
        input: Rows<'_>,
        rows: usize,
        k: usize,
        residual: Option<&[f32]>,
    ) -> candle_core::Result<CpuStorage> {
        let n = self.bias.len();
        if self.weight.len() != k * n {
            candle_core::bail!(
                "gemm: {k}×{n} weight expected, got {} values",
                self.weight.len()
            );
        }
        if residual.is_some_and(|r| r.len() != rows * n) {
            candle_core::bail!("gemm: a residual of {rows} rows of {n} expected");
        }
        let block = (BLOCK_FLOATS / (k + n)).clamp(16, 4096);
        let w = MatRef::from_row_major_slice(self.weight, k, n);
        let len = rows * n;
        // Not zeroed: the GEMM overwrites every value (not accumulating) before the epilogue
        // reads it, and a memset of each output cost ≈10% of EfficientNet-Lite0's forward pass.
        let mut out = Vec::<f32>::with_capacity(len);
        out.spare_capacity_mut()[..len]
            .par_chunks_mut(block * n)
            .enumerate()
            .for_each(|(i, dst)| {
                let r = dst.len() / n;
                let first = i * block;
                let res = residual.map(|res| &res[first * n..][..r * n]);
                match input {
                    Rows::Dense(x) => {
                        gemm_rows(&x[first * k..][..r * k], w, self.bias, res, self.act, dst)
                    }
                    Rows::Windows { x, g } => with_scratch(r * k, |a| {
                        gather_windows(x, g, first, a);
                        gemm_rows(a, w, self.bias, res, self.act, dst)
                    }),
                }
            });
        // SAFETY: every block was written above.
        unsafe { out.set_len(len) };
        Ok(CpuStorage::F32(out))
    }

    fn out_shape(&self, layout: &Layout) -> candle_core::Result<Shape> {
        Ok(Shape::from((layout.shape().dims2()?.0, self.bias.len())))
    }
}

/// `dst = act(a · w + bias [+ residual])` for one block of rows (`a` row-major `rows × K`),
/// as one sequential GEMM on the calling thread followed at once by the epilogue, while the
/// block is still in cache. Writes every value of `dst` (`rows × N`).
pub(super) fn gemm_rows(
    a: &[f32],
    w: MatRef<'_, f32>,
    bias: &[f32],
    residual: Option<&[f32]>,
    act: Activation,
    dst: &mut [MaybeUninit<f32>],
) {
    let (k, n) = (w.nrows(), w.ncols());
    let r = dst.len() / n;
    assert_eq!(a.len(), r * k, "gemm_rows: input rows");
    let a = MatRef::from_row_major_slice(a, r, k);
    let ptr = dst.as_mut_ptr().cast::<f32>();
    // SAFETY: `ptr` addresses the `r × n` row-major block `dst`, which nothing else borrows;
    // not accumulating, faer writes it without reading it.
    let block = unsafe { MatMut::from_raw_parts_mut(ptr, r, n, n as isize, 1) };
    gemm_sequential(block, a, w, 1.0, false);
    // SAFETY: the GEMM initialized all `r · n` values of `dst`.
    let dst = unsafe { std::slice::from_raw_parts_mut(ptr, r * n) };
    epilogue(dst, bias, residual, act);
}

/// `act(row + bias [+ residual row])` over each row of a block, in place.
///
/// Runs as AVX2 code where the CPU has it (256-bit vectors, VEX-encoded: no SSE/AVX transition
/// penalty whatever state the GEMM left the vector registers in).
fn epilogue(block: &mut [f32], bias: &[f32], residual: Option<&[f32]>, act: Activation) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports the feature enabled on the callee.
        return unsafe { epilogue_avx2(block, bias, residual, act) };
    }
    epilogue_impl(block, bias, residual, act)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn epilogue_avx2(
    block: &mut [f32],
    bias: &[f32],
    residual: Option<&[f32]>,
    act: Activation,
) {
    epilogue_impl(block, bias, residual, act)
}

#[inline(always)]
fn epilogue_impl(block: &mut [f32], bias: &[f32], residual: Option<&[f32]>, act: Activation) {
    let n = bias.len();
    match residual {
        Some(res) => {
            for (row, res) in block.chunks_mut(n).zip(res.chunks(n)) {
                for ((v, &b), &r) in row.iter_mut().zip(bias).zip(res) {
                    *v += b + r;
                }
                act.apply_slice(row);
            }
        }
        None => {
            for row in block.chunks_mut(n) {
                row.iter_mut().zip(bias).for_each(|(v, &b)| *v += b);
                act.apply_slice(row);
            }
        }
    }
}

impl candle_core::CustomOp1 for GemmOp<'_> {
    fn name(&self) -> &'static str {
        "gemm-bias-act"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = cpu_slice(storage, layout, self.name())?;
        let (rows, k) = layout.shape().dims2()?;
        Ok((
            self.run(Rows::Dense(x), rows, k, None)?,
            self.out_shape(layout)?,
        ))
    }
}

impl candle_core::CustomOp2 for GemmOp<'_> {
    fn name(&self) -> &'static str {
        "gemm-bias-residual-act"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
        res_storage: &CpuStorage,
        res_layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = cpu_slice(storage, layout, self.name())?;
        let res = cpu_slice(res_storage, res_layout, self.name())?;
        let (rows, k) = layout.shape().dims2()?;
        let out = self.run(Rows::Dense(x), rows, k, Some(res))?;
        Ok((out, self.out_shape(layout)?))
    }
}
