// The `harness` command line: every command is a library call plus formatting (see Commands/).
return Harness.Cli.HarnessCli.Run(args, Console.Out, Console.Error);
