//! The `--env-file` of a schedule: the secrets of every scheduled run.
//! Each run reads it itself (`pipeline run --env-file FILE`), literally, so
//! no shell or systemd ever interprets a value; `schedule` checks now what
//! would otherwise fail (or leak) at 3 a.m.

use super::ScheduleError;
use camino::Utf8Path;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

/// Who must own the env file: the user the scheduled runs run as, since
/// whoever can write the file sets the environment of every run.
#[derive(Debug, Clone)]
pub struct Owner {
    pub uid: u32,
    /// `root`, or the user's name.
    pub name: String,
}

/// The env file exists, is a regular file, is owned by `owner`, gives no
/// access to group or others, and every line is `NAME=value`.
pub fn check(path: &Utf8Path, owner: &Owner) -> Result<(), ScheduleError> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ScheduleError::EnvFileMissing { path: path.into() });
        }
        Err(source) => {
            return Err(ScheduleError::EnvFileUnreadable {
                path: path.into(),
                source,
            });
        }
    };
    if !meta.is_file() {
        return Err(ScheduleError::EnvFileNotFile { path: path.into() });
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(ScheduleError::EnvFileMode {
            path: path.into(),
            mode,
        });
    }
    if meta.uid() != owner.uid {
        let holder = user_name(meta.uid()).unwrap_or_else(|| format!("uid {}", meta.uid()));
        return Err(ScheduleError::EnvFileOwner {
            path: path.into(),
            holder,
            owner: owner.name.clone(),
        });
    }
    crate::loader::env_file(path)
        .map(|_| ())
        .map_err(|e| ScheduleError::EnvFileSyntax {
            message: e.to_string(),
        })
}

/// The name of a user id, from /etc/passwd.
pub fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() > 2 && fields[2] == uid.to_string()).then(|| fields[0].to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use camino::Utf8PathBuf;

    fn me() -> Owner {
        let uid = rustix::process::getuid().as_raw();
        Owner {
            uid,
            name: user_name(uid).unwrap_or_else(|| "me".into()),
        }
    }

    #[test]
    fn only_a_private_file_of_the_owner_passes() {
        let dir = tempfile::tempdir().unwrap();
        let path = Utf8PathBuf::from_path_buf(dir.path().join("env")).unwrap();
        let err = check(&path, &me()).unwrap_err();
        assert!(matches!(err, ScheduleError::EnvFileMissing { .. }), "{err}");
        std::fs::write(&path, "PIPELINE_SECRET_A=$(x)\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let err = check(&path, &me()).unwrap_err();
        assert!(
            matches!(err, ScheduleError::EnvFileMode { mode: 0o640, .. }),
            "{err}"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        check(&path, &me()).unwrap();
        let other = Owner {
            uid: me().uid + 1,
            name: "someone".into(),
        };
        let err = check(&path, &other).unwrap_err();
        assert!(
            matches!(&err, ScheduleError::EnvFileOwner { owner, .. } if owner == "someone"),
            "{err}"
        );
        std::fs::write(&path, "export A=1\n").unwrap();
        let err = check(&path, &me()).unwrap_err();
        assert!(
            matches!(&err, ScheduleError::EnvFileSyntax { message }
                if message.ends_with(":1: expected NAME=value (a name of letters, digits and `_`)")),
            "{err}"
        );
        let err = check(Utf8Path::from_path(dir.path()).unwrap(), &me()).unwrap_err();
        assert!(matches!(err, ScheduleError::EnvFileNotFile { .. }), "{err}");
    }
}
