use clap::Parser;

fn main() -> std::process::ExitCode {
    spvault::cli::Cli::parse().run()
}
