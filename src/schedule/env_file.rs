//! The `--env-file` of a schedule: the secrets of every scheduled run.
//! Each run reads it itself (`pipeline run --env-file FILE`), literally, so
//! no shell or systemd ever interprets a value; `schedule` checks now what
//! would otherwise fail (or leak) at 3 a.m.

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
pub fn check(path: &Utf8Path, owner: &Owner) -> Result<(), String> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!(
                "the env file `{path}` does not exist: write the secrets there as `PIPELINE_SECRET_NAME=value` lines, then `chmod 600 {path}`"
            ));
        }
        Err(e) => return Err(format!("failed to read the env file `{path}`: {e}")),
    };
    if !meta.is_file() {
        return Err(format!(
            "the env file `{path}` is not a regular file: pass the file of `NAME=value` lines"
        ));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "the env file `{path}` has mode {mode:04o}, which lets its group or others read or change the secrets in it: run `chmod 600 {path}`"
        ));
    }
    if meta.uid() != owner.uid {
        let holder = user_name(meta.uid()).unwrap_or_else(|| format!("uid {}", meta.uid()));
        return Err(format!(
            "the env file `{path}` is owned by {holder}, not {who}: whoever owns it can read the secrets and set the environment of every scheduled run; run `chown {who}: {path}`",
            who = owner.name
        ));
    }
    crate::loader::env_file(path).map(|_| ())
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
        assert!(err.contains("does not exist"), "{err}");
        std::fs::write(&path, "PIPELINE_SECRET_A=$(x)\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let err = check(&path, &me()).unwrap_err();
        assert!(
            err.contains("mode 0640") && err.contains("chmod 600"),
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
            err.contains("not someone") && err.contains("chown someone:"),
            "{err}"
        );
        std::fs::write(&path, "export A=1\n").unwrap();
        let err = check(&path, &me()).unwrap_err();
        assert!(err.ends_with(":1: expected NAME=value (a name of letters, digits and `_`)"));
        let err = check(Utf8Path::from_path(dir.path()).unwrap(), &me()).unwrap_err();
        assert!(err.contains("not a regular file"), "{err}");
    }
}
