//! The one place that chooses where tensors live: the CPU, or a CUDA GPU in a build with the
//! `cuda` feature. Training and generation put every tensor on their model's device.

use candle_core::Device;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Which device to compute on (`training.device`, the CLI's `--device`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceChoice {
    /// The first CUDA GPU when this build supports CUDA and one is present, else the CPU.
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// The first CUDA GPU; an error when this build or machine has none.
    Cuda,
}

impl DeviceChoice {
    /// The name used in configurations and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            DeviceChoice::Auto => "auto",
            DeviceChoice::Cpu => "cpu",
            DeviceChoice::Cuda => "cuda",
        }
    }

    /// Whether this is the default, [`DeviceChoice::Auto`] (not written into model files).
    pub fn is_auto(&self) -> bool {
        *self == DeviceChoice::Auto
    }
}

impl std::str::FromStr for DeviceChoice {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" => Ok(DeviceChoice::Cuda),
            other => Err(Error::Config(format!("device '{other}' is not one of auto, cpu, cuda"))),
        }
    }
}

/// Whether this build was compiled with CUDA support (the `cuda` feature).
pub const CUDA_BUILT: bool = cfg!(feature = "cuda");

/// The devices this build can use, by name (`cpu`, and `cuda` when built with it).
pub fn built() -> Vec<&'static str> {
    if CUDA_BUILT {
        vec!["cpu", "cuda"]
    } else {
        vec!["cpu"]
    }
}

/// The device `choice` selects on this machine.
///
/// Errors: [`Error::Config`] when `cuda` is asked of a build without the `cuda` feature or of a
/// machine where no CUDA device opens (the message says which, and what to do).
pub fn select(choice: DeviceChoice) -> Result<Device> {
    match choice {
        DeviceChoice::Cpu => Ok(Device::Cpu),
        DeviceChoice::Cuda if !CUDA_BUILT => Err(Error::Config(
            "device = \"cuda\", but this build of doppel has no CUDA support; rebuild with \
             `--features cuda` (see the README), or use device \"cpu\" or \"auto\""
                .into(),
        )),
        DeviceChoice::Cuda => Device::new_cuda(0).map_err(|e| {
            Error::Config(format!(
                "device = \"cuda\", but no CUDA device could be opened ({e}); check the NVIDIA \
                 driver, or use device \"cpu\" or \"auto\""
            ))
        }),
        DeviceChoice::Auto if CUDA_BUILT => Ok(Device::new_cuda(0).unwrap_or(Device::Cpu)),
        DeviceChoice::Auto => Ok(Device::Cpu),
    }
}

/// Whether `device` computes bf16 products natively: a CUDA GPU of compute capability 8.0
/// (Ampere) or later. Older GPUs and the CPU emulate them, slower than f16 or f32.
pub fn has_bf16(device: &Device) -> bool {
    #[cfg(feature = "cuda")]
    if let Device::Cuda(gpu) = device {
        let capability = gpu.cuda_stream().context().compute_capability();
        return capability.is_ok_and(|(major, _)| major >= 8);
    }
    let _ = device;
    false
}

/// The name of a device for messages and reports: `cpu` or `cuda`.
pub fn name(device: &Device) -> &'static str {
    if device.is_cuda() {
        "cuda"
    } else if device.is_metal() {
        "metal"
    } else {
        "cpu"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_parse_and_select_what_this_build_has() -> Result<()> {
        for choice in [DeviceChoice::Auto, DeviceChoice::Cpu, DeviceChoice::Cuda] {
            assert_eq!(choice.name().parse::<DeviceChoice>()?, choice);
        }
        assert!(
            matches!("gpu".parse::<DeviceChoice>(), Err(Error::Config(m)) if m.contains("auto, cpu, cuda"))
        );
        assert!(select(DeviceChoice::Cpu)?.is_cpu());
        if !CUDA_BUILT {
            assert!(select(DeviceChoice::Auto)?.is_cpu());
            let message = select(DeviceChoice::Cuda).err().map(|e| e.to_string());
            assert!(message.is_some_and(|m| m.contains("--features cuda")));
            assert_eq!(built(), ["cpu"]);
        }
        Ok(())
    }
}
