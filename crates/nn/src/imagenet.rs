//! The ImageNet-1K class index → wnid table, for printing predictions of 1000-way heads.

/// The 1,000 ILSVRC-2012 wnids in class-index order (shared with `hiercog-cog`'s data).
const IMAGENET1K_WNIDS: &str = include_str!("../../cog/data/imagenet1k_wnids.txt");

/// Wnid of ImageNet-1K class `index`, if in range.
pub fn imagenet1k_wnid(index: usize) -> Option<&'static str> {
    IMAGENET1K_WNIDS.lines().nth(index)
}

/// The wnids of all 1,000 classes in index order.
pub fn imagenet1k_wnids() -> Vec<&'static str> {
    IMAGENET1K_WNIDS.lines().collect()
}

/// The `k` largest entries of `scores` as `(index, softmax probability)`, best first.
pub fn top_k(logits: &[f32], k: usize) -> Vec<(usize, f32)> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f64> = logits.iter().map(|&v| ((v - max) as f64).exp()).collect();
    let sum: f64 = exp.iter().sum();
    let mut idx: Vec<usize> = (0..logits.len()).collect();
    idx.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
    idx.into_iter()
        .take(k)
        .map(|i| (i, (exp[i] / sum) as f32))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_1000_known_classes() {
        assert_eq!(imagenet1k_wnids().len(), 1000);
        assert_eq!(imagenet1k_wnid(0), Some("n01440764")); // tench
        assert_eq!(imagenet1k_wnid(285), Some("n02124075")); // Egyptian cat
        assert_eq!(imagenet1k_wnid(1000), None);
    }

    #[test]
    fn top_k_orders_and_normalizes() {
        let t = top_k(&[0.0, 2.0, 1.0], 2);
        assert_eq!(t.iter().map(|p| p.0).collect::<Vec<_>>(), [1, 2]);
        let p: f32 = top_k(&[0.0, 2.0, 1.0], 3).iter().map(|p| p.1).sum();
        assert!((p - 1.0).abs() < 1e-6);
    }
}
