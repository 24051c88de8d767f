//! The command-line reference of `docs/cli.md`, rendered from the clap
//! definitions, so that it lists every command and option the binary has
//! (`cargo xtask codegen` keeps the file in step).

use clap::{Arg, Command};

/// The reference of `hpckit` as Markdown: a section per command (the root
/// first, then depth first), each with its usage, arguments, options and
/// subcommands. Options marked global are listed once, at the root.
pub fn reference() -> String {
    let mut out = String::new();
    section(&mut out, &crate::command(), &mut Vec::new());
    out
}

fn section(out: &mut String, cmd: &Command, path: &mut Vec<String>) {
    if cmd.is_hide_set() {
        return;
    }
    path.push(cmd.get_name().to_owned());
    let name = path.join(" ");
    out.push_str(&format!("\n## `{name}`\n\n"));
    if let Some(about) = cmd.get_long_about().or(cmd.get_about()) {
        out.push_str(&format!("{}\n\n", about.to_string().trim_end()));
    }
    let args: Vec<&Arg> = cmd.get_arguments().filter(|a| !a.is_hide_set()).collect();
    let (positionals, options): (Vec<&Arg>, Vec<&Arg>) =
        args.into_iter().partition(|a| a.is_positional());
    let subcommands: Vec<&Command> = cmd.get_subcommands().filter(|c| !c.is_hide_set()).collect();
    out.push_str(&format!(
        "```text\n{}\n```\n",
        usage(&name, &positionals, &options, &subcommands)
    ));
    list(out, "Arguments", positionals.iter().map(|a| (positional(a), help(a))));
    list(out, "Options", options.iter().map(|a| (option(a), help(a))));
    list(
        out,
        "Commands",
        subcommands.iter().map(|c| {
            let about = c.get_about().map(|a| a.to_string()).unwrap_or_default();
            (format!("`{}`", c.get_name()), about)
        }),
    );
    for sub in subcommands {
        section(out, sub, path);
    }
    path.pop();
}

/// `hpckit job submit [OPTIONS] <URL> [-- <COMMAND>...]`, as clap prints it.
fn usage(name: &str, positionals: &[&Arg], options: &[&Arg], subcommands: &[&Command]) -> String {
    let mut line = name.to_owned();
    if !options.is_empty() {
        line.push_str(" [OPTIONS]");
    }
    for arg in positionals {
        let value = format!("{}{}", value_names(arg), if repeats(arg) { "..." } else { "" });
        let value = if arg.is_last_set() { format!("-- {value}") } else { value };
        if arg.is_required_set() {
            line.push_str(&format!(" {value}"));
        } else {
            line.push_str(&format!(" [{value}]"));
        }
    }
    if !subcommands.is_empty() {
        line.push_str(" <COMMAND>");
    }
    line
}

/// A list under a bold title, one item per `(term, description)`.
fn list(out: &mut String, title: &str, items: impl Iterator<Item = (String, String)>) {
    let items: Vec<(String, String)> = items.collect();
    if items.is_empty() {
        return;
    }
    out.push_str(&format!("\n{title}:\n\n"));
    for (term, text) in items {
        if text.is_empty() {
            out.push_str(&format!("- {term}\n"));
        } else {
            out.push_str(&format!("- {term}: {text}\n"));
        }
    }
}

fn positional(arg: &Arg) -> String {
    format!("`{}{}`", value_names(arg), if repeats(arg) { "..." } else { "" })
}

/// `-i, --key <FILE>` with its visible aliases.
fn option(arg: &Arg) -> String {
    let mut names = Vec::new();
    if let Some(short) = arg.get_short() {
        names.push(format!("-{short}"));
    }
    if let Some(long) = arg.get_long() {
        names.push(format!("--{long}"));
    }
    let mut term = names.join(", ");
    if arg.get_action().takes_values() {
        term.push(' ');
        term.push_str(&value_names(arg));
    }
    let mut out = format!("`{term}`");
    let aliases = arg.get_visible_aliases().unwrap_or_default();
    if !aliases.is_empty() {
        let aliases: Vec<String> = aliases.iter().map(|a| format!("`--{a}`")).collect();
        out.push_str(&format!(" (alias {})", aliases.join(", ")));
    }
    out
}

/// `<FILE>`, `<NAME[=VALUE]>`: the value names, else the argument's id in capitals.
fn value_names(arg: &Arg) -> String {
    match arg.get_value_names() {
        Some(names) if !names.is_empty() => {
            names.iter().map(|n| format!("<{n}>")).collect::<Vec<_>>().join(" ")
        }
        _ => format!("<{}>", arg.get_id().as_str().to_uppercase()),
    }
}

fn repeats(arg: &Arg) -> bool {
    arg.get_num_args().is_some_and(|n| n.max_values() > 1)
        || matches!(arg.get_action(), clap::ArgAction::Append)
}

/// The help text on one line, with default, choices, environment variable
/// and "global" where they apply.
fn help(arg: &Arg) -> String {
    let text = arg.get_long_help().or(arg.get_help()).map(|h| h.to_string()).unwrap_or_default();
    // Each paragraph on one line, as a sentence.
    let mut parts: Vec<String> = text
        .split("\n\n")
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|p| !p.is_empty())
        .map(|p| if p.ends_with(['.', '!', '?', ':']) { p } else { format!("{p}.") })
        .collect();
    if arg.get_action().takes_values() {
        let values: Vec<String> = arg
            .get_possible_values()
            .iter()
            .filter(|v| !v.is_hide_set())
            .map(|v| format!("`{}`", v.get_name()))
            .collect();
        if !values.is_empty() {
            parts.push(format!("One of {}.", values.join(", ")));
        }
        let defaults: Vec<String> =
            arg.get_default_values().iter().map(|v| format!("`{}`", v.to_string_lossy())).collect();
        if !defaults.is_empty() {
            parts.push(format!("Default: {}.", defaults.join(" ")));
        }
    }
    if let Some(env) = arg.get_env() {
        parts.push(format!("Environment: `{}`.", env.to_string_lossy()));
    }
    if arg.is_global_set() {
        parts.push("Global: taken by every command.".to_owned());
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every command the binary has, by its full name.
    fn names(cmd: &Command, prefix: &str, out: &mut Vec<String>) {
        let name = format!("{prefix}{}", cmd.get_name());
        for sub in cmd.get_subcommands() {
            names(sub, &format!("{name} "), out);
        }
        out.push(name);
    }

    #[test]
    fn every_command_and_option_has_its_place() {
        let text = reference();
        let mut all = Vec::new();
        names(&crate::command(), "", &mut all);
        assert!(all.len() > 20, "{all:?}");
        for name in &all {
            assert!(text.contains(&format!("\n## `{name}`\n")), "no section for {name}");
        }
        assert!(text.starts_with("\n## `hpckit`\n"));
        assert!(text.contains("```text\nhpckit job submit [OPTIONS] <URL> [-- <COMMAND>...]\n```"));
        assert!(text.contains(
            "- `-i, --key <FILE>` (alias `--identity`): Log in with this private key file. Global:"
        ));
        assert!(text.contains("Default: `create`."), "copy mode default");
        // Global options are listed at the root only.
        assert_eq!(text.matches("- `--agent`").count(), 1);
        assert!(text.contains("Global: taken by every command."));
    }
}
