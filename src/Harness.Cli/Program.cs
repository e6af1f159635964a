// Placeholder entry point until the command line lands (issue 6); exits 2 so nothing mistakes it for success.
Console.Error.WriteLine("harness: the command line is not built yet");
return 2;
