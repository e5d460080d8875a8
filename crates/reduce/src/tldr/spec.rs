//! Network specification strings of the TLDR reference (`parse_net_config`): `TYPE[-N[-H...]]`,
//! TYPE ∈ {linear, flinear, mlp}, N hidden layers, H their widths (the list is repeated N times,
//! as the reference does). "linear" alone is one linear map; "flinear-1-512" a linear map
//! factorised through 512 dimensions with batch normalisation between; "mlp-1-2048" one hidden
//! layer of 2048 with batch normalisation and ReLU, all linear maps without bias.

use crate::error::{Error, Result};

/// The kind of layers a network stacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetKind {
    /// Linear maps with biases, batch normalisation between them ("linear", "flinear").
    Linear,
    /// Bias-free linear maps with batch normalisation and ReLU between them ("mlp").
    Mlp,
}

/// A parsed network specification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetSpec {
    text: String,
    kind: NetKind,
    hidden_layers: usize,
    widths: Vec<usize>,
}

impl std::str::FromStr for NetSpec {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: &str| {
            Error::param(
                "network",
                format!("{s:?}"),
                format!("{why}; use TYPE[-LAYERS-WIDTH], e.g. linear, flinear-1-512, mlp-1-2048, mlp-2-2048"),
            )
        };
        let parts: Vec<&str> = s.split('-').collect();
        let kind = match parts[0].to_ascii_lowercase().as_str() {
            "linear" | "flinear" => NetKind::Linear,
            "mlp" => NetKind::Mlp,
            other => return Err(bad(&format!("unknown network type {other:?}"))),
        };
        let number = |p: &str| {
            p.parse::<usize>()
                .map_err(|_| bad(&format!("{p:?} is not a number")))
        };
        let (hidden_layers, widths) = match parts.len() {
            1 if parts[0].eq_ignore_ascii_case("linear") => (0, Vec::new()),
            1 => return Err(bad("give the number of hidden layers and their width")),
            2 if number(parts[1])? == 0 => (0, Vec::new()),
            2 => return Err(bad("give the width of the hidden layers")),
            _ => (
                number(parts[1])?,
                parts[2..]
                    .iter()
                    .map(|p| number(p))
                    .collect::<Result<Vec<_>>>()?,
            ),
        };
        if widths.contains(&0) {
            return Err(bad("layer widths must be >= 1"));
        }
        Ok(NetSpec {
            text: s.to_string(),
            kind,
            hidden_layers,
            widths,
        })
    }
}

impl std::fmt::Display for NetSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl NetSpec {
    /// The kind of layers.
    pub fn kind(&self) -> NetKind {
        self.kind
    }

    /// Layer widths of the encoder from `input` to `output` dimensions (the reference's
    /// `[inputdim] + hdims * N + [n_components]`).
    pub fn encoder_sizes(&self, input: usize, output: usize) -> Vec<usize> {
        let mut sizes = vec![input];
        for _ in 0..self.hidden_layers {
            sizes.extend(&self.widths);
        }
        sizes.push(output);
        sizes
    }

    /// Layer widths of the projector from `input` dimensions (the reference's
    /// `[n_components] + hdims * (N + 1)`); fails for a spec without widths.
    pub fn projector_sizes(&self, input: usize) -> Result<Vec<usize>> {
        if self.widths.is_empty() {
            return Err(Error::param(
                "projector",
                &self.text,
                "a projector needs layers: e.g. mlp-2-2048 (the default), or none",
            ));
        }
        let mut sizes = vec![input];
        for _ in 0..=self.hidden_layers {
            sizes.extend(&self.widths);
        }
        Ok(sizes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_strings() {
        let s: NetSpec = "linear".parse().unwrap();
        assert_eq!(s.encoder_sizes(2048, 128), vec![2048, 128]);
        let s: NetSpec = "flinear-1-512".parse().unwrap();
        assert_eq!(s.encoder_sizes(2048, 128), vec![2048, 512, 128]);
        assert_eq!(s.kind(), NetKind::Linear);
        let s: NetSpec = "mlp-1-2048".parse().unwrap();
        assert_eq!(s.encoder_sizes(64, 8), vec![64, 2048, 8]);
        let s: NetSpec = "mlp-2-2048".parse().unwrap();
        assert_eq!(s.projector_sizes(128).unwrap(), vec![128, 2048, 2048, 2048]);
        for bad in ["conv-1-2", "mlp", "mlp-2", "mlp-x-3", "mlp-1-0"] {
            assert!(bad.parse::<NetSpec>().is_err(), "{bad}");
        }
        assert!("linear"
            .parse::<NetSpec>()
            .unwrap()
            .projector_sizes(8)
            .is_err());
    }
}
