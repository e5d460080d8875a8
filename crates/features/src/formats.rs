//! Reading and writing the on-disk formats of feature sets.

use std::fs::File;
use std::io::{BufReader, Seek, Write};
use std::path::Path;
use std::str::FromStr;

use hiercog_io::{write_atomic, write_atomic_with, AtomicPath};
use hiercog_pickle::{Tensor, Value};
use memmap2::Mmap;
use npyz::WriterBuilder;
use safetensors::{Dtype, SafeTensors};

use crate::set::{FeatureSet, Matrix};
use crate::{Error, Result};

/// On-disk formats of a feature set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A directory with `X.npy` (f32, rows × dim), `Y.npy` (int labels) and `classes.txt` (one name per class).
    Npy,
    /// One `.npz` archive holding `X` and `Y` (class names in `classes.txt` beside it, if any).
    Npz,
    /// One `.safetensors` file with tensors `X` (F32) and `Y` (I64); class names in its metadata.
    Safetensors,
    /// The naver/cog reference's `X_Y.pth`: `torch.save({"X": tensor, "Y": tensor, "name": str})`.
    Pth,
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "npy" => Ok(Format::Npy),
            "npz" => Ok(Format::Npz),
            "safetensors" => Ok(Format::Safetensors),
            "pth" => Ok(Format::Pth),
            _ => Err(format!(
                "unknown feature format {s:?}: use npy, npz, safetensors or pth"
            )),
        }
    }
}

impl Format {
    /// The format of an existing path: a directory is `Npy`, files go by extension.
    pub fn of_path(path: &Path) -> Result<Format> {
        if path.is_dir() {
            return Ok(Format::Npy);
        }
        match path.extension().and_then(|e| e.to_str()) {
            Some("npz") => Ok(Format::Npz),
            Some("safetensors") => Ok(Format::Safetensors),
            Some("pth") | Some("pt") => Ok(Format::Pth),
            _ if !path.exists() => Err(Error::read(path)(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no such file or directory",
            ))),
            _ => Err(Error::format(
                path,
                "unknown feature file: give a directory with X.npy and Y.npy, or a .npz, .safetensors or .pth file",
            )),
        }
    }

    /// File name of a set saved in this format under a directory (`ShardWriter::finish`).
    pub fn file_name(self) -> &'static str {
        match self {
            Format::Npy => "features",
            Format::Npz => "features.npz",
            Format::Safetensors => "features.safetensors",
            Format::Pth => "X_Y.pth",
        }
    }
}

pub(crate) fn load(path: &Path, format: Format) -> Result<FeatureSet> {
    match format {
        Format::Npy => load_npy_dir(path),
        Format::Npz => load_npz(path),
        Format::Safetensors => load_safetensors(path),
        Format::Pth => load_pth(path),
    }
}

fn classes_file(path: &Path) -> Result<Option<Vec<String>>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect(),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::read(path)(e)),
    }
}

/// Labels of any integer dtype, checked non-negative and < 2^32.
fn labels_from_i64(values: Vec<i64>, path: &Path) -> Result<Vec<u32>> {
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            u32::try_from(v).map_err(|_| Error::Labels {
                path: path.to_path_buf(),
                problem: format!("row {i} has label {v}"),
            })
        })
        .collect()
}

/// The dtype of an array as numpy writes it, e.g. `<f4`.
fn type_str<R: std::io::Read>(npy: &npyz::NpyFile<R>) -> String {
    npy.dtype().descr().trim_matches('\'').to_string()
}

fn npy_labels<R: std::io::Read>(npy: npyz::NpyFile<R>, path: &Path) -> Result<Vec<u32>> {
    let descr = type_str(&npy);
    let shape = npy.shape().to_vec();
    if shape.len() != 1 {
        return Err(Error::format(
            path,
            format!("labels must be 1-d, found shape {shape:?}"),
        ));
    }
    let values: Vec<i64> = match descr.as_str() {
        "<i8" => npy.into_vec::<i64>(),
        "<i4" => npy
            .into_vec::<i32>()
            .map(|v| v.into_iter().map(i64::from).collect()),
        "<i2" => npy
            .into_vec::<i16>()
            .map(|v| v.into_iter().map(i64::from).collect()),
        "<u4" => npy
            .into_vec::<u32>()
            .map(|v| v.into_iter().map(i64::from).collect()),
        "<u2" => npy
            .into_vec::<u16>()
            .map(|v| v.into_iter().map(i64::from).collect()),
        "|u1" => npy
            .into_vec::<u8>()
            .map(|v| v.into_iter().map(i64::from).collect()),
        "|i1" => npy
            .into_vec::<i8>()
            .map(|v| v.into_iter().map(i64::from).collect()),
        other => {
            return Err(Error::format(
                path,
                format!("labels must be integers, found dtype {other}"),
            ))
        }
    }
    .map_err(Error::read(path))?;
    labels_from_i64(values, path)
}

/// Features as f32 from any float dtype (f32 is the fast path; f64/f16 are converted).
fn npy_features<R: std::io::Read>(npy: npyz::NpyFile<R>, path: &Path) -> Result<(Vec<f32>, usize)> {
    let (shape, descr) = (npy.shape().to_vec(), type_str(&npy));
    let dim = matrix_dim(&shape, path)?;
    if npy.order() != npyz::Order::C {
        return Err(Error::format(
            path,
            "Fortran-ordered arrays are not supported: save with np.ascontiguousarray",
        ));
    }
    let values = match descr.as_str() {
        "<f4" => npy.into_vec::<f32>(),
        "<f8" => npy
            .into_vec::<f64>()
            .map(|v| v.into_iter().map(|x| x as f32).collect()),
        other => {
            return Err(Error::format(
                path,
                format!("features must be float32 or float64, found dtype {other}: save them with X.astype(np.float32)"),
            ))
        }
    }
    .map_err(Error::read(path))?;
    Ok((values, dim))
}

fn matrix_dim(shape: &[u64], path: &Path) -> Result<usize> {
    match shape {
        [_, d] if *d > 0 => Ok(*d as usize),
        _ => Err(Error::format(
            path,
            format!("features must be a 2-d array (rows × dim), found shape {shape:?}"),
        )),
    }
}

fn load_npy_dir(dir: &Path) -> Result<FeatureSet> {
    let (xp, yp) = (dir.join("X.npy"), dir.join("Y.npy"));
    let mut file = File::open(&xp).map_err(Error::read(&xp))?;
    let npy = npyz::NpyFile::new(&mut file)
        .map_err(|e| Error::format(&xp, format!("not a .npy file: {e}")))?;
    let shape = npy.shape().to_vec();
    let dim = matrix_dim(&shape, &xp)?;
    let x = if type_str(&npy) == "<f4" && npy.order() == npyz::Order::C {
        // Memory-map the data: no copy of a multi-gigabyte matrix.
        let offset = file.stream_position().map_err(Error::read(&xp))? as usize;
        // SAFETY: the file is opened read-only; hiercog never writes a feature file in place
        // (saves go to a temporary file renamed over it), so the mapping stays consistent.
        let map = unsafe { Mmap::map(&file) }.map_err(Error::read(&xp))?;
        let len = (shape[0] * shape[1]) as usize;
        if map.len() < offset + 4 * len {
            return Err(Error::format(
                &xp,
                format!(
                    "truncated: {} bytes of data for shape {shape:?}",
                    map.len() - offset
                ),
            ));
        }
        Matrix::mapped(map, offset, len)
    } else {
        let file = File::open(&xp).map_err(Error::read(&xp))?;
        let npy = npyz::NpyFile::new(BufReader::new(file))
            .map_err(|e| Error::format(&xp, e.to_string()))?;
        Matrix::Owned(npy_features(npy, &xp)?.0)
    };
    let yfile = File::open(&yp).map_err(Error::read(&yp))?;
    let ynpy = npyz::NpyFile::new(BufReader::new(yfile))
        .map_err(|e| Error::format(&yp, format!("not a .npy file: {e}")))?;
    let labels = npy_labels(ynpy, &yp)?;
    let classes = classes_file(&dir.join("classes.txt"))?;
    FeatureSet::new(x, dim, labels, classes, Some(dir))
}

fn load_npz(path: &Path) -> Result<FeatureSet> {
    let mut npz = npyz::npz::NpzArchive::open(path)
        .map_err(|e| Error::format(path, format!("not a .npz archive: {e}")))?;
    let missing = |name: &str| {
        Error::format(
            path,
            format!("no array {name:?} in the archive (expected X and Y)"),
        )
    };
    let x = npz
        .by_name("X")
        .map_err(Error::read(path))?
        .ok_or_else(|| missing("X"))?;
    let (x, dim) = npy_features(x, path)?;
    let y = npz
        .by_name("Y")
        .map_err(Error::read(path))?
        .ok_or_else(|| missing("Y"))?;
    let labels = npy_labels(y, path)?;
    let classes = classes_file(&path.with_file_name("classes.txt"))?;
    FeatureSet::new(Matrix::Owned(x), dim, labels, classes, Some(path))
}

fn load_safetensors(path: &Path) -> Result<FeatureSet> {
    let file = File::open(path).map_err(Error::read(path))?;
    // SAFETY: read-only mapping of a file hiercog never modifies in place.
    let map = unsafe { Mmap::map(&file) }.map_err(Error::read(path))?;
    let st = SafeTensors::deserialize(&map)
        .map_err(|e| Error::format(path, format!("not a safetensors file: {e}")))?;
    let tensor = |name: &str| {
        st.tensor(name)
            .map_err(|_| Error::format(path, format!("no tensor {name:?} (expected X and Y)")))
    };
    let x = tensor("X")?;
    if x.dtype() != Dtype::F32 {
        return Err(Error::format(
            path,
            format!("X must be F32, found {:?}", x.dtype()),
        ));
    }
    let shape: Vec<u64> = x.shape().iter().map(|&d| d as u64).collect();
    let dim = matrix_dim(&shape, path)?;
    let offset = x.data().as_ptr() as usize - map.as_ptr() as usize;
    let len = x.data().len() / 4;
    let y = tensor("Y")?;
    let ydata = y.data();
    let values: Vec<i64> = match y.dtype() {
        Dtype::I64 => ydata
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect(),
        Dtype::I32 => ydata
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes")) as i64)
            .collect(),
        other => {
            return Err(Error::format(
                path,
                format!("Y must be I64 or I32, found {other:?}"),
            ))
        }
    };
    let labels = labels_from_i64(values, path)?;
    let (_, meta) =
        SafeTensors::read_metadata(&map).map_err(|e| Error::format(path, e.to_string()))?;
    let classes = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get("classes"))
        .map(|c| c.lines().map(String::from).collect());
    drop(st);
    FeatureSet::new(
        Matrix::mapped(map, offset, len),
        dim,
        labels,
        classes,
        Some(path),
    )
}

fn load_pth(path: &Path) -> Result<FeatureSet> {
    let v = hiercog_pickle::load_torch(path)?;
    let tensor = |name: &str| -> Result<&Tensor> {
        v.get(name).and_then(Value::as_tensor).ok_or_else(|| {
            Error::format(
                path,
                format!(
                    "no tensor {name:?}: expected torch.save({{\"X\": tensor, \"Y\": tensor}})"
                ),
            )
        })
    };
    let x = tensor("X")?;
    let shape: Vec<u64> = x.shape.iter().map(|&d| d as u64).collect();
    let dim = matrix_dim(&shape, path)?;
    let labels = labels_from_i64(tensor("Y")?.to_i64_vec()?, path)?;
    let classes = match v.get("classes").and_then(Value::as_list) {
        Some(list) => Some(
            list.iter()
                .map(|c| c.as_str().unwrap_or_default().to_string())
                .collect(),
        ),
        None => classes_file(&path.with_file_name("classes.txt"))?,
    };
    FeatureSet::new(
        Matrix::Owned(x.to_f32_vec()?),
        dim,
        labels,
        classes,
        Some(path),
    )
}

fn write_npy_x(f: &mut File, set: &FeatureSet) -> std::io::Result<()> {
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&[set.rows() as u64, set.dim() as u64])
        .writer(std::io::BufWriter::new(f))
        .begin_nd()?;
    w.extend(set.x().iter().copied())?;
    w.finish()
}

fn write_npy_y(f: &mut File, set: &FeatureSet) -> std::io::Result<()> {
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&[set.rows() as u64])
        .writer(std::io::BufWriter::new(f))
        .begin_nd()?;
    w.extend(set.labels.iter().map(|&l| l as i64))?;
    w.finish()
}

fn classes_text(set: &FeatureSet) -> Option<String> {
    set.class_names
        .as_ref()
        .map(|c| c.iter().map(|n| format!("{n}\n")).collect())
}

pub(crate) fn save(set: &FeatureSet, path: &Path, format: Format) -> Result<()> {
    match format {
        Format::Npy => {
            // Build the directory beside the target, then swap it in.
            let tmp = AtomicPath::new(path)?;
            let dir = tmp.path();
            std::fs::create_dir(dir).map_err(Error::write(dir))?;
            let file = |name: &str| -> Result<File> {
                let p = dir.join(name);
                File::create(&p).map_err(Error::write(p))
            };
            write_npy_x(&mut file("X.npy")?, set).map_err(Error::write(path))?;
            write_npy_y(&mut file("Y.npy")?, set).map_err(Error::write(path))?;
            if let Some(text) = classes_text(set) {
                file("classes.txt")?
                    .write_all(text.as_bytes())
                    .map_err(Error::write(path))?;
            }
            Ok(tmp.commit()?)
        }
        Format::Npz => {
            write_atomic_with(path, |f| {
                let mut npz = npyz::npz::NpzWriter::new(std::io::BufWriter::new(f));
                let mut x = npz
                    .array::<f32>("X", Default::default())?
                    .default_dtype()
                    .shape(&[set.rows() as u64, set.dim() as u64])
                    .begin_nd()?;
                x.extend(set.x().iter().copied())?;
                x.finish()?;
                let mut y = npz
                    .array::<i64>("Y", Default::default())?
                    .default_dtype()
                    .shape(&[set.rows() as u64])
                    .begin_nd()?;
                y.extend(set.labels.iter().map(|&l| l as i64))?;
                y.finish()
            })?;
            if let Some(text) = classes_text(set) {
                write_atomic(&path.with_file_name("classes.txt"), text.as_bytes())?;
            }
            Ok(())
        }
        Format::Safetensors => {
            let xb: Vec<u8> = set.x().iter().flat_map(|v| v.to_le_bytes()).collect();
            let yb: Vec<u8> = set
                .labels
                .iter()
                .flat_map(|&l| (l as i64).to_le_bytes())
                .collect();
            let invalid = |e: safetensors::SafeTensorError| Error::Invalid(e.to_string());
            let tensors = vec![
                (
                    "X",
                    safetensors::tensor::TensorView::new(
                        Dtype::F32,
                        vec![set.rows(), set.dim()],
                        &xb,
                    )
                    .map_err(invalid)?,
                ),
                (
                    "Y",
                    safetensors::tensor::TensorView::new(Dtype::I64, vec![set.rows()], &yb)
                        .map_err(invalid)?,
                ),
            ];
            let meta =
                classes_text(set).map(|c| [("classes".to_string(), c)].into_iter().collect());
            let bytes =
                safetensors::serialize(tensors, meta).map_err(|e| Error::Invalid(e.to_string()))?;
            Ok(write_atomic(path, &bytes)?)
        }
        Format::Pth => {
            let labels: Vec<i64> = set.labels.iter().map(|&l| l as i64).collect();
            let mut dict = vec![
                (
                    Value::Str("X".into()),
                    Value::Tensor(Tensor::from_f32(vec![set.rows(), set.dim()], set.x())),
                ),
                (
                    Value::Str("Y".into()),
                    Value::Tensor(Tensor::from_i64(vec![set.rows()], &labels)),
                ),
                (
                    Value::Str("name".into()),
                    Value::Str(
                        set.source
                            .as_ref()
                            .map(|p| p.display().to_string())
                            .unwrap_or_else(|| "hiercog".into()),
                    ),
                ),
            ];
            if let Some(c) = &set.class_names {
                dict.push((
                    Value::Str("classes".into()),
                    Value::List(c.iter().map(|n| Value::Str(n.clone())).collect()),
                ));
            }
            Ok(hiercog_pickle::save_torch(path, &Value::Dict(dict))?)
        }
    }
}
