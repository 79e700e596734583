//! The plugin folder as a catalog. A plugin is known by the name in its own metadata, never by
//! its file name (a component saved under another plugin's file name is still itself); names
//! are unique in a folder (two files with the same plugin name are refused, naming both); and a
//! command that names no plugin gets the folder's only one, or an error listing the choices.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::{Plugin, Runtime, RuntimeError};

/// Longest plugin name: it appears in file names, logs, config and on the command line.
pub const MAX_PLUGIN_NAME: usize = 64;

/// Why `name` cannot be a plugin's name, if it cannot. A name is 1 to [`MAX_PLUGIN_NAME`]
/// lowercase ASCII letters, digits and single hyphens, starting with a letter and not ending with
/// a hyphen: safe as a file name, a crate name and a config value everywhere.
pub fn check_plugin_name(name: &str) -> Result<(), String> {
    let ok_chars = name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if name.is_empty() || name.len() > MAX_PLUGIN_NAME {
        Err(format!("must be 1 to {MAX_PLUGIN_NAME} characters long"))
    } else if !ok_chars {
        Err("may hold only lowercase letters, digits and '-'".into())
    } else if !name.starts_with(|c: char| c.is_ascii_lowercase()) || name.ends_with('-') || name.contains("--") {
        Err("must start with a letter, not end with '-', and not hold '--'".into())
    } else {
        Ok(())
    }
}

/// The plugins of one folder, by name.
pub struct Catalog {
    dir: PathBuf,
    plugins: BTreeMap<String, Plugin>,
    /// Files that were refused (not a plugin, a forbidden import, an old WIT version, ...).
    refused: Vec<RuntimeError>,
}

impl Runtime {
    /// Loads every `*.wasm` in `dir`. A refused file does not stop the others (it is kept in
    /// [`Catalog::refused`]); two files holding plugins of the same name refuse the folder.
    pub fn catalog(&self, dir: &Path) -> Result<Catalog, RuntimeError> {
        let mut plugins: BTreeMap<String, Plugin> = BTreeMap::new();
        let mut refused = vec![];
        for loaded in self.load_dir(dir)? {
            match loaded {
                Ok(p) => {
                    let name = p.metadata().name.clone();
                    if let Some(first) = plugins.get(&name) {
                        return Err(RuntimeError::DuplicateName {
                            dir: dir.to_owned(),
                            name,
                            first: first.path().to_owned(),
                            second: p.path().to_owned(),
                        });
                    }
                    plugins.insert(name, p);
                }
                Err(e) => refused.push(e),
            }
        }
        Ok(Catalog { dir: dir.to_owned(), plugins, refused })
    }
}

impl Catalog {
    /// Every loaded plugin, by name.
    pub fn plugins(&self) -> impl Iterator<Item = &Plugin> {
        self.plugins.values()
    }

    /// Why each refused file was refused.
    pub fn refused(&self) -> &[RuntimeError] {
        &self.refused
    }

    /// The plugin called `name`; without a name, the folder's only plugin.
    pub fn take(mut self, name: Option<&str>) -> Result<Plugin, RuntimeError> {
        let name = self.name_of(name)?;
        Ok(self.plugins.remove(&name).expect("name_of names a loaded plugin"))
    }

    /// The name `name` stands for: itself if the folder holds it; without a name, the folder's
    /// only plugin's.
    pub fn name_of(&self, name: Option<&str>) -> Result<String, RuntimeError> {
        let available = self.plugins.keys().cloned().collect::<Vec<_>>().join(", ");
        let refused = match self.refused.as_slice() {
            [] => String::new(),
            [only] => format!("; refused: {only}"),
            many => format!("; {} file(s) refused, see `prova plugins list`", many.len()),
        };
        match name {
            Some(name) if self.plugins.contains_key(name) => Ok(name.to_string()),
            Some(name) => Err(RuntimeError::NoSuchPlugin {
                dir: self.dir.clone(),
                name: name.to_string(),
                available: if available.is_empty() { "none".into() } else { available },
                refused,
            }),
            None if self.plugins.len() == 1 => Ok(available),
            None if self.plugins.is_empty() => Err(RuntimeError::NoPlugins { dir: self.dir.clone(), refused }),
            None => Err(RuntimeError::ChoosePlugin { dir: self.dir.clone(), available }),
        }
    }

    /// Every loaded plugin, by name.
    pub fn into_plugins(self) -> BTreeMap<String, Plugin> {
        self.plugins
    }
}

#[cfg(test)]
mod tests {
    use super::check_plugin_name;

    #[test]
    fn plugin_names_are_safe_everywhere() {
        for good in ["a", "transfer-groth16", "demo-rollup", "x1-2"] {
            assert_eq!(check_plugin_name(good), Ok(()), "{good}");
        }
        let long = "a".repeat(super::MAX_PLUGIN_NAME + 1);
        for bad in ["", "Transfer", "1abc", "-a", "a-", "a--b", "a_b", "a b", "../x", "é", long.as_str()] {
            assert!(check_plugin_name(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
