import AMQPCommandLine

@main
extension AMQPCommand {}
