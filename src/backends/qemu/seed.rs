//! The seed step: a NoCloud seed disk (a FAT filesystem labelled CIDATA),
//! made in-process. It holds `meta-data` (a fresh instance-id per build),
//! `user-data`, and the secrets, which stay off the image's own disk.

use crate::files::TempFile;
use crate::model::Secrets;
use crate::step::{StepError, StepResult};
use base64::Engine;
use camino::Utf8Path;
use std::io::Write;

pub struct SeedContent<'a> {
    pub instance_id: &'a str,
    pub hostname: &'a str,
    pub user_data: &'a str,
    pub secrets: &'a Secrets,
    pub secrets_as: SecretsAs,
}

/// What the guest does with the secrets on its seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretsAs {
    /// A build: the provisioning script gets them in its environment
    /// (file `secrets`).
    Environment,
    /// A verify boot: values no file of the image may hold (file
    /// `forbidden`).
    Forbidden,
}

/// Write the seed image to `path` (mode 0600: it may hold secrets).
pub fn write_seed(path: &Utf8Path, content: &SeedContent) -> StepResult<()> {
    let meta_data = format!(
        "instance-id: {}\nlocal-hostname: {}\n",
        content.instance_id, content.hostname
    );
    let mut secrets = String::new();
    for secret in content.secrets.iter() {
        let value = base64::engine::general_purpose::STANDARD.encode(secret.value());
        secrets.push_str(&format!("{} {value}\n", secret.env_name()));
    }
    let payload = meta_data.len() + content.user_data.len() + secrets.len();
    // FAT12 holds up to ~32 MiB; leave room for metadata and clusters.
    let size = (2 * payload as u64 + (1 << 20)).max(2 << 20);
    let mut seed = TempFile::create_private(path)?;
    let written = (|| -> std::io::Result<()> {
        let file = seed.file();
        file.set_len(size)?;
        fatfs::format_volume(
            &mut *file,
            fatfs::FormatVolumeOptions::new().volume_label(*b"CIDATA     "),
        )?;
        let fs = fatfs::FileSystem::new(&mut *file, fatfs::FsOptions::new())?;
        {
            let root = fs.root_dir();
            root.create_file("meta-data")?
                .write_all(meta_data.as_bytes())?;
            root.create_file("user-data")?
                .write_all(content.user_data.as_bytes())?;
            if !secrets.is_empty() {
                let name = match content.secrets_as {
                    SecretsAs::Environment => "secrets",
                    SecretsAs::Forbidden => "forbidden",
                };
                root.create_file(name)?.write_all(secrets.as_bytes())?;
            }
        }
        fs.unmount()
    })();
    written.map_err(|e| StepError::io(format!("failed to write the seed {path}"), &e))?;
    seed.sync()?;
    // The build removes it once the VM is done with it.
    seed.keep();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn holds_the_files_under_a_cidata_label() {
        let dir = tempfile::tempdir().unwrap();
        let path = camino::Utf8PathBuf::from_path_buf(dir.path().join("seed.img")).unwrap();
        let secrets =
            Secrets::from_vars([("PIPELINE_SECRET_TOKEN".to_string(), "s3 cr=t\n".to_string())])
                .unwrap();
        write_seed(
            &path,
            &SeedContent {
                instance_id: "pipeline-1",
                hostname: "img",
                user_data: "#!/bin/sh\necho hi\n",
                secrets: &secrets,
                secrets_as: SecretsAs::Environment,
            },
        )
        .unwrap();
        let mut file = std::fs::File::open(&path).unwrap();
        let fs = fatfs::FileSystem::new(&mut file, fatfs::FsOptions::new()).unwrap();
        assert_eq!(fs.volume_label(), "CIDATA");
        let read = |name: &str| {
            let mut s = String::new();
            fs.root_dir()
                .open_file(name)
                .unwrap()
                .read_to_string(&mut s)
                .unwrap();
            s
        };
        assert_eq!(
            read("meta-data"),
            "instance-id: pipeline-1\nlocal-hostname: img\n"
        );
        assert_eq!(read("user-data"), "#!/bin/sh\necho hi\n");
        assert_eq!(read("secrets"), "PIPELINE_SECRET_TOKEN czMgY3I9dAo=\n");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // blkid sees the label the guest looks for.
        let out = std::process::Command::new("blkid")
            .args(["-o", "value", "-s", "LABEL", path.as_str()])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "CIDATA");
    }
}
