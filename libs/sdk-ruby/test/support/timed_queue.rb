# frozen_string_literal: true

# A queue whose #pop gives up after a timeout (Ruby 3.1's Queue cannot).
class TimedQueue
  def initialize
    @items = []
    @lock = Mutex.new
    @added = ConditionVariable.new
  end

  def <<(item)
    @lock.synchronize do
      @items << item
      @added.broadcast
    end
    self
  end

  # The oldest item, waiting up to +timeout+ seconds for one; nil if none came.
  def pop(timeout: 5)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
    @lock.synchronize do
      while @items.empty?
        left = deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC)
        return nil unless left.positive?

        @added.wait(@lock, left)
      end
      @items.shift
    end
  end

  def empty?
    @lock.synchronize { @items.empty? }
  end
end
