import ArgumentParser

#if canImport(Glibc)
import Glibc
#endif

/// The exit codes of the README's command-line contract.
public enum ExitStatus: Int32, Sendable {
    case success = 0
    /// Bad arguments, an unreadable or unsupported model, a bad input file.
    case userError = 1
    /// A bug in mpcc.
    case internalError = 2
    /// A peer disconnected, timed out or sent junk.
    case peerFailure = 3
}

/// An error a command reports to the user with a chosen exit status.
public struct CommandFailure: Error, CustomStringConvertible {
    public var status: ExitStatus
    public var message: String

    public init(_ status: ExitStatus, _ message: String) {
        self.status = status
        self.message = message
    }

    public var description: String { message }
}

extension ParsableCommand {
    /// Parses the process arguments, runs the command, and exits with the README's contract codes:
    /// errors print one line `NAME: error: ...` on stderr (usage errors add the usage).
    public static func runAsMain() -> Never {
        let name = configuration.commandName ?? "\(Self.self)"
        do {
            var command = try parseAsRoot()
            try command.run()
            Glibc.exit(ExitStatus.success.rawValue)
        } catch let failure as CommandFailure {
            printError("\(name): error: \(failure.message)")
            Glibc.exit(failure.status.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Glibc.exit(0)
            }
            if error is ExitCode {
                Glibc.exit(code.rawValue)
            }
            // Argument parsing errors are user errors (exit 1, not ArgumentParser's 64).
            let message = fullMessage(for: error)
            if code == .validationFailure {
                printError("\(name): error: \(message.hasPrefix("Error: ") ? String(message.dropFirst(7)) : message)")
                Glibc.exit(ExitStatus.userError.rawValue)
            }
            printError("\(name): internal error: \(message)")
            Glibc.exit(ExitStatus.internalError.rawValue)
        }
    }
}

/// Writes a line to standard error.
public func printError(_ line: String) {
    let text = line + "\n"
    _ = text.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
}
