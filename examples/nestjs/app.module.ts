import { Module } from '@nestjs/common';
import { HerdlessModule } from '../../nestjs';
import { ProductsController } from './products.controller';
import { ProductsService } from './products.service';

@Module({
  imports: [
    // forRootAsync: the options are read when the application starts, not when this file is imported.
    // With @nestjs/config: imports: [ConfigModule], inject: [ConfigService], useFactory: (config) => ...
    HerdlessModule.forRootAsync({
      useFactory: () => ({ redis: { url: process.env.REDIS_URL }, namespace: process.env.CACHE_NAMESPACE ?? 'api', ttl: '5m' }),
    }),
  ],
  controllers: [ProductsController],
  providers: [ProductsService],
})
export class AppModule {}
